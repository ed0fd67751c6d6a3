package netlinkdp

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// dumpAttempts bounds the retries of an interrupted dump. The kernel
// interrupts a dump when the table changes under it (NLM_F_DUMP_INTR); under
// a steady stream of changes a few attempts are enough.
const dumpAttempts = 10

// dump runs a netlink dump, repeating it while the kernel reports it
// interrupted, because an interrupted dump may be incomplete and acting on it
// would delete entries that exist. Every dump in this package goes through
// here (as containernetworking's netlinksafe does).
func dump[T any](what string, f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpAttempts {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("dump %s: %w", what, err)
	}
	return v, nil
}
