// Package sdnotify speaks systemd's notify protocol (sd_notify(3)) without
// libsystemd: each message is one datagram of newline-separated
// VARIABLE=value lines sent to the AF_UNIX datagram socket named by
// $NOTIFY_SOCKET (a path, or an abstract socket when it starts with '@').
// A unit with Type=notify counts as started once READY=1 arrives; with
// WatchdogSec= the service manager restarts it when WATCHDOG=1 stops
// coming for that long (it passes the period as $WATCHDOG_USEC, and may
// name the process meant in $WATCHDOG_PID).
//
// Run is what vxbgpd tells systemd: READY=1 once the agent is ready (the
// condition of /readyz), STATUS= lines while it waits and whenever the
// reason changes, WATCHDOG=1 every half period only while its loops turn
// over (the condition of /healthz), and STOPPING=1 when it stops.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to one service manager socket. A nil
// *Notifier (no $NOTIFY_SOCKET: not run by systemd, or not Type=notify)
// sends nothing.
type Notifier struct {
	socket   string
	watchdog time.Duration // 0: no watchdog
	warning  error         // a problem with the environment, logged by Run
}

// FromEnv returns the Notifier the environment asks for: nil without
// $NOTIFY_SOCKET; its watchdog period from $WATCHDOG_USEC unless
// $WATCHDOG_PID names another process.
func FromEnv() *Notifier {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil
	}
	n := &Notifier{socket: socket}
	n.watchdog, n.warning = watchdogFromEnv(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
	return n
}

// watchdogFromEnv is the watchdog period $WATCHDOG_USEC and $WATCHDOG_PID
// give process pid: 0 when unset or meant for another process.
func watchdogFromEnv(usec, wpid string, pid int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if wpid != "" {
		if p, err := strconv.Atoi(wpid); err != nil || p != pid {
			return 0, nil // another process's watchdog (sd_watchdog_enabled(3))
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds; no watchdog pings", usec)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// New returns a Notifier for socket with a watchdog period (0: none), as
// FromEnv would for NOTIFY_SOCKET=socket WATCHDOG_USEC=watchdog.
func New(socket string, watchdog time.Duration) *Notifier {
	return &Notifier{socket: socket, watchdog: watchdog}
}

// Watchdog is the watchdog period (0: none).
func (n *Notifier) Watchdog() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Notify sends lines (e.g. "READY=1", "STATUS=...") as one message.
func (n *Notifier) Notify(lines ...string) error {
	if n == nil {
		return nil
	}
	if !strings.HasPrefix(n.socket, "/") && !strings.HasPrefix(n.socket, "@") {
		// systemd 254 also offers vsock: addresses, for virtual machines.
		return fmt.Errorf("NOTIFY_SOCKET=%q: only a path or an abstract (@) socket is supported", n.socket)
	}
	for _, l := range lines {
		if strings.Contains(l, "\n") {
			return errors.New("notify: a line holds a newline")
		}
	}
	// Go's net maps a leading '@' to the abstract namespace's NUL byte.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.socket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify %s: %w", n.socket, err)
	}
	return nil
}
