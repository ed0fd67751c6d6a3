package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestFRRMaxPrefixes: an FRR router announces 25 prefixes to a routed host
// whose bgp.peers[].maxPrefixes for it is 20 (every route received counts,
// accepted by the import policy or not). The host closes the session with
// a Cease, which FRR reports as the reason of its last reset, logs it with
// the limit, and holds the session down (FRR never gets it Established
// again while the host holds it: 60 s).
func TestFRRMaxPrefixes(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	var nets []string
	for i := range 25 {
		nets = append(nets, fmt.Sprintf("172.30.%d.0/24", i))
	}
	l := newLab(t, ctx, lab.Options{
		Hosts: 1, Mode: modeRouted, NoMesh: true,
		HostASN:   func(int) uint32 { return 64601 },
		Routers:   []lab.RouterSpec{{Networks: nets}},
		Configure: func(h *lab.Host, c *lab.HostConfig) { c.BGP.Peers[0].MaxPrefixes = 20 },
	})
	h, r := l.Host(1), l.Routers[0]
	var s lab.Session
	must(t, lab.Eventually(ctx, "the host to close the session for its prefix limit", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		ss, err := r.Sessions(ctx)
		if err != nil {
			return false, err
		}
		s = ss[h.Addr]
		return s.Established > 0 && s.State != "Established" && strings.Contains(s.LastReset, "Notification received"),
			fmt.Errorf("FRR's session: %+v", s)
	}))
	t.Logf("FRR: session %s, came up %d time(s), last reset: %s, last notification: %q", s.State, s.Established, s.LastReset, s.LastNotification)
	if !strings.HasPrefix(s.LastNotification, "Cease") {
		t.Errorf("FRR's last notification %q, want a Cease", s.LastNotification)
	}
	b, err := os.ReadFile(h.LogPath)
	must(t, err)
	if !strings.Contains(string(b), "sent more routes than its maxPrefixes") || !strings.Contains(string(b), "maxPrefixes=20") {
		t.Errorf("%s did not log the prefix limit", h.Name)
	}
	// Held down: neither side has it up for the next 5 s.
	n := s.Established
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		ss, err := r.Sessions(ctx)
		must(t, err)
		if ss[h.Addr].Established != n || ss[h.Addr].State == "Established" {
			t.Fatalf("session up again while the host holds it down: %+v", ss[h.Addr])
		}
	}
	peers, err := h.Peers(ctx)
	must(t, err)
	if len(peers) != 1 || peers[0].State != "idle" {
		t.Errorf("%s: vxbgpctl peers %+v, want the router idle", h.Name, peers)
	}
}
