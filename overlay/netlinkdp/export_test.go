package netlinkdp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FailNDResponder makes the ND responder stop as a receive error would:
// it forgets its bridges and Watch hears of it.
func FailNDResponder(d *Dataplane) {
	d.nd.Close()
	d.ndStopped <- struct{}{}
}

// NewAt returns a Dataplane for the network namespace ns, for tests that
// run one in a namespace of their own: it enters ns (setns, so it needs
// CAP_SYS_ADMIN) to open its sockets and to reach ns's /proc/sys. It keeps
// its own duplicate of ns, so the caller may close ns afterwards.
func NewAt(ns netns.NsHandle, log *slog.Logger) (*Dataplane, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup netns handle: %w", err)
	}
	own := netns.NsHandle(fd)
	d, err := newDataplane(own, log)
	if err != nil {
		own.Close()
	}
	return d, err
}

// ErrKilled is what an Apply returns when KillAfterLinkAdd stopped it.
var ErrKilled = errors.New("killed (test)")

// KillAfterLinkAdd makes d's Apply stop right after it created the link
// called name, before anything else, as a SIGKILL at that instant would.
func KillAfterLinkAdd(d *Dataplane, name string) {
	d.linkAdded = func(n string) error {
		if n == name {
			return ErrKilled
		}
		return nil
	}
}

// SubscribeNeigh is the neighbour subscription Watch reads.
func SubscribeNeigh(d *Dataplane, ch chan<- netlink.NeighUpdate, done <-chan struct{}, onErr func(error)) error {
	return d.subscribeNeigh(ch, done, onErr, 8<<20)
}
