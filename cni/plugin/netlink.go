package plugin

import (
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpRetries bounds retries of an interrupted netlink dump.
const dumpRetries = 5

// retryDump runs a netlink dump again when the kernel reports that it was
// interrupted by a concurrent change (the result would be inconsistent).
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var res []T
	var err error
	for range dumpRetries {
		res, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return res, err
		}
	}
	return nil, err
}

// isNotFound reports whether err says the link does not exist.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
