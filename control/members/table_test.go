package members

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func node(m Meta) *memberlist.Node {
	return &memberlist.Node{Name: m.Name, Addr: m.Addr.AsSlice(), Port: 7946, Meta: m.encode(false)}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The table without memberlist: changes close the channel taken before
// them, and the dead are forgotten after forgetAfter, never ourselves.
func TestTable(t *testing.T) {
	tb := newTable(meta("a", 1), time.Hour, slog.New(slog.DiscardHandler))
	ch := tb.changes()
	b := meta("b", 2)
	if err := tb.NotifyAlive(node(b)); err != nil {
		t.Fatal(err)
	}
	if closed(ch) {
		t.Error("NotifyAlive of a new member changed the table: memberlist may still drop it")
	}
	tb.NotifyJoin(node(b))
	if !closed(ch) {
		t.Error("no change on join")
	}
	joined := tb.snapshot()[1].Since

	ch = tb.changes()
	tb.NotifyUpdate(node(b))
	if m := tb.snapshot()[1]; !closed(ch) || m.Since != joined {
		t.Errorf("update: changed %v, since %v (joined %v)", closed(ch), m.Since, joined)
	}

	ch = tb.changes()
	tb.NotifyLeave(node(b))
	m := tb.snapshot()[1]
	if !closed(ch) || m.State != Dead || m.Since.Before(joined) {
		t.Errorf("after NotifyLeave: %+v", m)
	}
	tb.forget(m.Since.Add(time.Hour))
	if len(tb.snapshot()) != 2 {
		t.Error("forgotten too early")
	}
	ch = tb.changes()
	tb.forget(m.Since.Add(time.Hour + time.Second))
	if ms := tb.snapshot(); len(ms) != 1 || ms[0].Name != "a" || !closed(ch) {
		t.Errorf("after forget: %+v", ms)
	}
	tb.forget(time.Now().Add(100 * time.Hour))
	if len(tb.snapshot()) != 1 {
		t.Error("forgot ourselves")
	}

	// Once Run has ended, memberlist's late timers change nothing.
	tb.stop()
	ch = tb.changes()
	tb.NotifyJoin(node(b))
	if closed(ch) || len(tb.snapshot()) != 1 {
		t.Error("a join after stop was taken")
	}
}

func TestRunTwice(t *testing.T) {
	h := start(t, Config{Self: meta("a", 2)})
	if err := h.Run(t.Context()); err == nil {
		t.Error("second Run: no error")
	}
}

// Binding an address the host does not have is Run's only error.
func TestBindFails(t *testing.T) {
	d, err := New(Config{Self: Meta{Name: "a", Addr: netip.MustParseAddr("192.0.2.1"), ASN: 1, Mode: "routed"}})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "gossip on 192.0.2.1 port 0: ") {
		t.Errorf("Run = %v", err)
	}
}
