package netlinkdp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

// TestNATError: a NAT table that cannot be programmed is reported under
// the key that asks for it, and a kernel without nf_tables also says how
// to run without (what the reconciler logs and /readyz's last error show).
func TestNATError(t *testing.T) {
	noNFT := natError(fmt.Errorf("open nftables netlink socket: %w: %w", nftnat.ErrUnavailable, unix.EPROTONOSUPPORT))
	if !errors.Is(noNFT, nftnat.ErrUnavailable) || !strings.HasPrefix(noNFT.Error(), "natOutgoing: ") ||
		!strings.Contains(noNFT.Error(), "nf_tables is not available in this kernel") ||
		!strings.Contains(noNFT.Error(), "set natOutgoing: false on every network") {
		t.Errorf("no nf_tables: %v", noNFT)
	}
	other := natError(unix.EPERM)
	if !errors.Is(other, unix.EPERM) || other.Error() != "natOutgoing: operation not permitted" {
		t.Errorf("EPERM: %v", other)
	}
	if natError(nil) != nil {
		t.Error("nil error wrapped")
	}
}
