package bench

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// testFleet is a fleet without a lab: hosts with names and addresses only.
func testFleet(hosts, pods, k, churn int) *fleet {
	fz := fleetSize{hosts: hosts, pods: pods, reflectors: 2, k: k, churn: churn, rounds: 3, workers: 4}
	f := &fleet{fz: fz, pods: make([][]*fleetPod, hosts), next: make([]int, hosts), rng: rand.New(rand.NewPCG(1, 2))}
	var hs []*lab.Host
	for i := range hosts {
		hs = append(hs, &lab.Host{Name: "h" + string(rune('1'+i)), Index: i + 1, Addr: "10.250.0." + string(rune('1'+i))})
	}
	f.tr = &tracker{hosts: hs, waiting: map[gateKey][]*pair{}}
	for range hs {
		f.tr.fdb = append(f.tr.fdb, map[string]*fdbStamp{})
	}
	return f
}

// TestFleetSample: every pod pings every other host's first pod and k
// distinct random pods elsewhere, never its own host; first pods are
// created first.
func TestFleetSample(t *testing.T) {
	f := testFleet(5, 4, 2, 0)
	pairs, jobs := f.sample()
	if len(jobs) != 20 || jobs[0].name != "h1p1" || jobs[4].name != "h5p1" || jobs[5].name != "h1p2" {
		t.Fatalf("jobs %d, order %s %s %s", len(jobs), jobs[0].name, jobs[4].name, jobs[5].name)
	}
	if want := 20 * (4 + 2); len(pairs) != want {
		t.Errorf("%d pairs, want %d", len(pairs), want)
	}
	seen := map[[2]*fleetPod]bool{}
	for _, p := range pairs {
		if p.from.host == p.to.host {
			t.Errorf("pair %s->%s on one host", p.from.name, p.to.name)
		}
		if seen[[2]*fleetPod{p.from, p.to}] {
			t.Errorf("pair %s->%s twice", p.from.name, p.to.name)
		}
		seen[[2]*fleetPod{p.from, p.to}] = true
	}
}

// TestFleetPickChurn: victims spread over the hosts from the round's
// host, never a first pod; replacements on the same host, new names.
func TestFleetPickChurn(t *testing.T) {
	f := testFleet(3, 3, 0, 4)
	f.sample()
	v, n := f.pickChurn(1)
	var got []string
	for i := range v {
		got = append(got, v[i].name+">"+n[i].name)
		if v[i].host != n[i].host {
			t.Errorf("%s replaced on another host by %s", v[i].name, n[i].name)
		}
	}
	want := []string{"h2p2>h2p4", "h3p2>h3p4", "h1p2>h1p4", "h2p3>h2p5"}
	if len(got) != len(want) {
		t.Fatalf("churn %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("churn %v, want %v", got, want)
			break
		}
	}
	f.replace(v, n)
	if f.pods[1][0].name != "h2p1" || len(f.pods[1]) != 3 || f.pods[1][1].name != "h2p4" {
		t.Errorf("h2's pods after churn: %v %v %v", f.pods[1][0].name, f.pods[1][1].name, f.pods[1][2].name)
	}
}

// fdbUpdate is a netlink notification of a remote FDB entry.
func fdbUpdate(del bool, mac, dst string) netlink.NeighUpdate {
	hw, _ := net.ParseMAC(mac)
	typ := uint16(unix.RTM_NEWNEIGH)
	if del {
		typ = unix.RTM_DELNEIGH
	}
	return netlink.NeighUpdate{Type: typ, Neigh: netlink.Neigh{Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, HardwareAddr: hw, IP: net.ParseIP(dst)}}
}

// TestFleetGate: a pair's gate opens only once the sender's host holds the
// target's entry towards the target's host and the target's host holds
// the sender's, in whichever order the pods and the entries come.
func TestFleetGate(t *testing.T) {
	f := testFleet(2, 1, 0, 0)
	tr := f.tr
	a := &fleetPod{name: "h1p1", host: 0}
	b := &fleetPod{name: "h2p1", host: 1}
	p := &pair{from: a, to: b}
	tr.startPhase([]*pair{p})
	defer tr.close()
	// h1 learns b's entry before b's CNI ADD returned.
	tr.note(0, fdbUpdate(false, "02:00:00:00:00:0b", "10.250.0.2"))
	tr.podReady(a, &lab.Pod{MAC: "02:00:00:00:00:0A", IP: netip.MustParseAddr("10.244.1.2")})
	tr.podReady(b, &lab.Pod{MAC: "02:00:00:00:00:0b", IP: netip.MustParseAddr("10.244.2.2")})
	if p.missing != 1 || len(tr.ready) != 0 {
		t.Fatalf("missing %d ready %d, want 1 and 0 (h2 lacks a)", p.missing, len(tr.ready))
	}
	// An entry towards the wrong VTEP, and a flood entry, open nothing.
	tr.note(1, fdbUpdate(false, "00:00:00:00:00:00", "10.250.0.1"))
	if len(tr.ready) != 0 {
		t.Fatal("a flood entry opened the gate")
	}
	tr.note(1, fdbUpdate(false, "02:00:00:00:00:0a", "10.250.0.1"))
	if p.missing != 0 || len(tr.ready) != 1 {
		t.Fatalf("missing %d ready %d, want 0 and 1", p.missing, len(tr.ready))
	}
	// Deletions: gone only after the phase began and not added again.
	tr.note(1, fdbUpdate(true, "02:00:00:00:00:0a", "10.250.0.1"))
	s := tr.fdb[1]["02:00:00:00:00:0a"]
	if s.del.IsZero() || s.del.Before(s.lastAdd) {
		t.Errorf("delete not recorded after the add: %+v", s)
	}
}

// TestFleetEstimate: the 50-host fleet's needs, which the preflight checks.
func TestFleetEstimate(t *testing.T) {
	n := Config{}.fleetSize().estimate()
	if n.netns != 1+50+1000+100 || n.arp < 100000 || n.fds < 1000 {
		t.Errorf("estimate %+v", n)
	}
}
