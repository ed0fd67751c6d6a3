package bgp_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// peerOf returns s's status of the neighbour addr.
func peerOf(t *testing.T, s *bgp.Speaker, addr string) bgp.PeerStatus {
	t.Helper()
	ps, err := s.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Address.String() == addr {
			return p
		}
	}
	t.Fatalf("no peer %s in %+v", addr, ps)
	return bgp.PeerStatus{}
}

// familiesText renders Families as "family:received/accepted/advertised ...".
func familiesText(p bgp.PeerStatus) string {
	var out []string
	for _, f := range p.Families {
		out = append(out, fmt.Sprintf("%s:%d/%d/%d", f.Family, f.Received, f.Accepted, f.Advertised))
	}
	return strings.Join(out, " ")
}

// Two real speakers: per family, what one sends is what the other
// receives, and the import policy's refusals show as received but not
// accepted; the per-peer metrics say the same, with the peer's source.
func TestPeerFamilies(t *testing.T) {
	a := newNode(t, "127.0.0.201", "10.0.0.201")
	b := newNode(t, "127.0.0.202", "10.0.0.202", netip.MustParsePrefix("10.244.0.0/16"))
	bgptest.Connect(t, a, b, bgp.FamilyEVPN, bgp.FamilyIPv4)
	ctx := context.Background()
	for i := range 2 {
		if err := a.AddPath(ctx, imet(t, a.RouterID, uint16(i+1), 100, a.IP)); err != nil {
			t.Fatal(err)
		}
	}
	err := a.Advertise(ctx, "blocks", []bgp.Path{mustUnicast(t, "10.244.1.0/24", a.IP), mustUnicast(t, "192.168.0.0/24", a.IP)})
	if err != nil {
		t.Fatal(err)
	}
	// 192.168.0.0/24 is outside b's import prefixes: b's import policy
	// refuses it, but GoBGP counts it accepted (status.go says why).
	const want = "ipv4-unicast:2/2/0 l2vpn-evpn:2/2/0"
	bgptest.WaitFor(t, "b to hold a's routes", bgptest.SessionTimeout, func() bool {
		return familiesText(peerOf(t, b.Speaker, a.IP)) == want
	})
	if p := peerOf(t, b.Speaker, a.IP); p.Received != 4 || p.Accepted != 4 {
		t.Errorf("b's totals from a: received %d accepted %d, want 4 and 4", p.Received, p.Accepted)
	}
	if got, want := familiesText(peerOf(t, a.Speaker, b.IP)), "ipv4-unicast:0/0/2 l2vpn-evpn:0/0/2"; got != want {
		t.Errorf("a's families towards b: %s, want %s", got, want)
	}

	reg := prometheus.NewRegistry()
	b.Register(reg, func(addr netip.Addr) string { return "static" })
	got := series(t, reg)
	for _, want := range []string{
		fmt.Sprintf(`vxbgp_bgp_session_up{peer="%s",peer_asn="%d",source="static"} 1`, a.IP, bgptest.ASN),
		fmt.Sprintf(`vxbgp_bgp_routes_received{family="ipv4-unicast",peer="%s"} 2`, a.IP),
		fmt.Sprintf(`vxbgp_bgp_routes_accepted{family="ipv4-unicast",peer="%s"} 2`, a.IP),
		fmt.Sprintf(`vxbgp_bgp_routes_received{family="l2vpn-evpn",peer="%s"} 2`, a.IP),
		fmt.Sprintf(`vxbgp_bgp_routes_advertised{family="l2vpn-evpn",peer="%s"} 0`, a.IP),
		"vxbgp_bgp_peers_established 1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s in\n%s", want, strings.Join(got, "\n"))
		}
	}

	// Withdrawn: the counts follow.
	if err := a.Advertise(ctx, "blocks", nil); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "b to drop a's unicast routes", bgptest.SessionTimeout, func() bool {
		return familiesText(peerOf(t, b.Speaker, a.IP)) == "ipv4-unicast:0/0/0 l2vpn-evpn:2/2/0"
	})
	if got, want := familiesText(peerOf(t, a.Speaker, b.IP)), "ipv4-unicast:0/0/0 l2vpn-evpn:0/0/2"; got != want {
		t.Errorf("a's families towards b after the withdrawal: %s, want %s", got, want)
	}
}

// A session refused for a wrong ASN: both sides say why, as FRR's "Last
// reset" does.
func TestPeerLastError(t *testing.T) {
	a := newNode(t, "127.0.0.203", "10.0.0.203")
	b := newNode(t, "127.0.0.204", "10.0.0.204")
	ctx := context.Background()
	wrong := a.PeerConfig(b)
	wrong.ASN = bgptest.ASN + 1
	if err := a.SetPeers(ctx, []bgp.PeerConfig{wrong}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeers(ctx, []bgp.PeerConfig{b.PassivePeerConfig(a)}); err != nil {
		t.Fatal(err)
	}
	const reason = "code 2(open) subcode 2(bad peer as)"
	bgptest.WaitFor(t, "both sides to name the refusal", bgptest.SessionTimeout, func() bool {
		return strings.Contains(peerOf(t, a.Speaker, b.IP).LastError, "notification sent: "+reason) &&
			strings.Contains(peerOf(t, b.Speaker, a.IP).LastError, "notification received: "+reason)
	})
	t.Logf("a: %q; b: %q", peerOf(t, a.Speaker, b.IP).LastError, peerOf(t, b.Speaker, a.IP).LastError)

	// Fixed: the session comes up, the last error stays (history), and a
	// deleted neighbour takes its error with it.
	if err := a.SetPeers(ctx, []bgp.PeerConfig{a.PeerConfig(b)}); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "the session", bgptest.SessionTimeout, func() bool { return peerOf(t, a.Speaker, b.IP).Established() })
	if p := peerOf(t, a.Speaker, b.IP); p.LastError == "" {
		t.Errorf("the last error went when the session came up: %+v", p)
	}
	if err := b.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "a to see the session end", bgptest.SessionTimeout, func() bool {
		// b's Cease is a Hard Reset: "session down: hard-reset", or the
		// NOTIFICATION's text when GoBGP logged it.
		e := peerOf(t, a.Speaker, b.IP).LastError
		return strings.HasPrefix(e, "session down: ") || strings.HasPrefix(e, "notification received: code 6(cease)")
	})
	t.Logf("a after b deleted it: %q", peerOf(t, a.Speaker, b.IP).LastError)
}

// series renders what reg gathers as "name{label="value",...} value"
// lines, labels sorted by name (as the text exposition has them).
func series(t *testing.T, reg prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out = append(out, fmt.Sprintf("%s %v", name, v))
		}
	}
	return out
}
