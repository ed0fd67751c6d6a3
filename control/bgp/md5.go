package bgp

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// MD5Supported reports (nil) whether this kernel signs TCP segments with
// MD5 (RFC 2385, CONFIG_TCP_MD5SIG), which a peer's password needs.
// Without it GoBGP only logs a warning ("failed to set md5") and every
// connection attempt then fails as a timeout: the session never comes up
// and nothing says why. SetPeers refuses a password instead, naming this.
func MD5Supported() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tcp md5 probe: %w", err)
	}
	defer unix.Close(fd)
	sig := unix.TCPMD5Sig{Keylen: 1}
	sig.Addr.Family = unix.AF_INET
	copy(sig.Addr.Data[2:], []byte{127, 0, 0, 1})
	sig.Key[0] = 'x'
	if err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig); err != nil {
		if errors.Is(err, unix.ENOPROTOOPT) {
			return fmt.Errorf("this kernel has no TCP MD5 signatures (CONFIG_TCP_MD5SIG): %w", err)
		}
		return fmt.Errorf("tcp md5 probe: %w", err)
	}
	return nil
}
