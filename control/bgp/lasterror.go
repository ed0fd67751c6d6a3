package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// The last error of a session (PeerStatus.LastError), as FRR's "Last
// reset" shows it.
//
// GoBGP v3's API does not carry it: api.PeerState has no reason field,
// and the peer events of WatchEvent drop the FSM's state reason. GoBGP
// says it only in its log, so the speaker reads it there: the slog adapter
// hands every peer-topic message to sessionErrors before any level
// filtering, and these three messages are kept (pkg/server/fsm.go):
//
//   - "sent notification" and "received notification", with the code and
//     subcode (and the Administrative Shutdown communication, RFC 8203):
//     what refused a session on its way up (a wrong ASN in the OPEN,
//     "code 2(open) subcode 2(bad peer as)"), or ended it;
//   - "Peer Down", with GoBGP's reason: "hold-timer-expired", "read-failed"
//     (the peer closed the connection), "hard-reset", "notification-...";
//   - "prefix limit reached", with the family: the peer sent more than its
//     maxPrefixes, and GoBGP closes the session with a Cease, which it
//     sends as a bare Hard Reset (RFC 8538, no reason in its data).
//
// One event logs several of them (the limit, the NOTIFICATION it sent,
// "Peer Down"); within notifyWindow the most precise one stays.
//
// A session that never gets as far as a BGP message (connection refused,
// a TCP MD5 mismatch, which the kernel drops silently) leaves no error
// here. The error stays after the session comes back, as FRR's does, and
// goes with the neighbour.
type sessionErrors struct {
	mu   sync.Mutex
	last map[netip.Addr]sessionError
}

type sessionError struct {
	text string
	at   time.Time
	prio int
}

// notifyWindow is how long a precise message beats the vaguer ones of the
// same event that follow it (the NOTIFICATION, then "Peer Down").
const notifyWindow = 5 * time.Second

func newSessionErrors() *sessionErrors {
	return &sessionErrors{last: map[netip.Addr]sessionError{}}
}

// seen is the log adapter's hook: it runs for every Info and Warn
// message, on GoBGP's goroutines, and must not block.
func (e *sessionErrors) seen(msg string, f gobgplog.Fields) {
	if topic, _ := f["Topic"].(string); topic != "Peer" {
		return
	}
	key, _ := f["Key"].(string)
	addr, err := netip.ParseAddr(key)
	if err != nil {
		return
	}
	var text string
	prio := 0 // a message within notifyWindow of a higher one is the same event, said less precisely
	switch msg {
	case "prefix limit reached":
		if _, warning := f["Pct"]; warning {
			return // the shutdown threshold's warning: the session goes on
		}
		prio = 2
		text = fmt.Sprintf("maximum number of prefixes reached for %v: session closed with a Cease", f["Family"])
	case "sent notification", "received notification":
		prio = 1
		text = "notification " + strings.TrimSuffix(msg, " notification") + ": "
		code, ok1 := asUint8(f["Code"])
		sub, ok2 := asUint8(f["Subcode"])
		switch {
		case ok1 && ok2:
			data, _ := f["Data"].([]byte)
			text += notificationText(code, sub, data)
		default:
			text += describe(f["Data"]) // sendNotificationFromErrorMsg: the *MessageError
		}
		if c, _ := f["Communicated-Reason"].(string); c != "" {
			text += ` "` + c + `"`
		}
	case "Peer Down":
		reason, _ := f["Reason"].(string)
		if reason == "" || reason == "dying" {
			return // our own shutdown
		}
		text = "session down: " + reason
	default:
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.last[addr]; ok && prio < cur.prio && now.Sub(cur.at) < notifyWindow {
		return
	}
	e.last[addr] = sessionError{text: text, at: now, prio: prio}
}

// fill sets the LastError of ps, and forgets the neighbours not among
// them (deleted).
func (e *sessionErrors) fill(ps []PeerStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	listed := make(map[netip.Addr]bool, len(ps))
	for i := range ps {
		listed[ps[i].Address] = true
		ps[i].LastError = e.last[ps[i].Address].text
	}
	for a := range e.last {
		if !listed[a] {
			delete(e.last, a)
		}
	}
}
