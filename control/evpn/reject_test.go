package evpn

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/testlog"
)

// A peer that keeps sending one kind of bad route is counted every time
// and logged once per interval, each kind on its own.
func TestRejectLoggedOncePerKind(t *testing.T) {
	var logs testlog.Buffer
	s := NewSource(Config{ASN: testASN, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}, nil, nil)
	for i := range 50 {
		s.ingest(rt2(vtepA, fmt.Sprintf("01:00:5e:00:00:%02x", i), "", 0, 100))                            // bad_mac
		s.ingest(rt2(netip.MustParseAddr("127.0.0.1"), fmt.Sprintf("02:00:00:00:00:%02x", i), "", 0, 100)) // martian_vtep
		s.ingest(rt2(selfVTEP, fmt.Sprintf("02:00:00:00:01:%02x", i), "", 0, 100))                         // own_vtep
	}
	for _, reason := range []string{"bad_mac", "martian_vtep", "own_vtep"} {
		if n := s.Rejected(reason); n != 50 {
			t.Errorf("%s: %d counted, want 50", reason, n)
		}
		if n := strings.Count(logs.String(), "reason="+reason); n != 1 {
			t.Errorf("%s: logged %d times, want once:\n%s", reason, n, logs.String())
		}
	}
	if st := buildState(s.cfg.Networks, s.rx); len(st.FDB) != 0 || len(st.Flood) != 0 || len(st.Neigh) != 0 {
		t.Fatalf("refused routes in the state:\n%s", remote(st))
	}
	// A refresh of a refused route (a soft reset, graceful restart) is
	// not counted again.
	s.ingest(rt2(selfVTEP, "02:00:00:00:01:00", "", 0, 100))
	if n := s.Rejected("own_vtep"); n != 50 {
		t.Errorf("own_vtep after a refresh: %d, want 50", n)
	}
}
