package members

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// rawNode is a bare memberlist announcing whatever metadata it is given:
// a broken agent, or something else on the port.
type rawNode struct {
	ml   *memberlist.Memberlist
	mu   sync.Mutex
	meta []byte
}

func (r *rawNode) NodeMeta(int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta
}
func (*rawNode) NotifyMsg([]byte)                {}
func (*rawNode) GetBroadcasts(int, int) [][]byte { return nil }
func (*rawNode) LocalState(bool) []byte          { return nil }
func (*rawNode) MergeRemoteState([]byte, bool)   {}

// setMeta announces meta at once.
func (r *rawNode) setMeta(t *testing.T, meta []byte) {
	r.mu.Lock()
	r.meta = meta
	r.mu.Unlock()
	if err := r.ml.UpdateNode(time.Second); err != nil {
		t.Fatal(err)
	}
}

func startRaw(t *testing.T, name, ip string, meta []byte, seed string) *rawNode {
	t.Helper()
	r := &rawNode{meta: meta}
	mc := memberlist.DefaultLocalConfig()
	mc.Name, mc.BindAddr, mc.AdvertiseAddr, mc.BindPort, mc.AdvertisePort = name, ip, ip, 0, 0
	mc.Delegate = r
	mc.Logger = newMemberlistLogger(bgptest.Logger(t))
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	r.ml = ml
	t.Cleanup(func() { _ = ml.Shutdown() })
	if _, err := ml.Join([]string{seed}); err != nil {
		t.Fatalf("%s join: %v", name, err)
	}
	return r
}

// Metadata that does not decode or validate is ignored, logged and
// counted; the member never appears.
func TestBadMeta(t *testing.T) {
	a := start(t, Config{Self: meta("a", 71)})
	for i, tc := range []struct {
		name, meta, why string
	}{
		{"not JSON", `garbage`, "does not decode"},
		{"none", ``, "does not decode"},
		{"version 2", `{"v":2,"name":"r","addr":"127.0.0.100","asn":1,"mode":"routed"}`, "metadata version 2, want 1"},
		{"no name", `{"v":1,"addr":"127.0.0.100","asn":1,"mode":"routed"}`, "no node name"},
		{"another node's name", `{"v":1,"name":"b","addr":"127.0.0.100","asn":1,"mode":"routed"}`, `metadata names "b"`},
		{"no address", `{"v":1,"name":"r","asn":1,"mode":"routed"}`, "is not a unicast address"},
		{"bad address", `{"v":1,"name":"r","addr":"10.0.0","asn":1,"mode":"routed"}`, "does not decode"},
		{"not its gossip address", `{"v":1,"name":"r","addr":"127.0.0.99","asn":1,"mode":"routed"}`,
			"metadata address 127.0.0.99 is not its gossip address 127.0.0.100"},
		{"ASN 0", `{"v":1,"name":"r","addr":"127.0.0.100","mode":"routed"}`, "ASN 0"},
		{"unknown mode", `{"v":1,"name":"r","addr":"127.0.0.100","asn":1,"mode":"bridged"}`, `unknown mode "bridged"`},
		{"block with host bits", `{"v":1,"name":"r","addr":"127.0.0.100","asn":1,"mode":"routed","blocks":["10.244.9.1/24"]}`,
			"block 10.244.9.1/24 is not a prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRaw(t, "r", "127.0.0.100", []byte(tc.meta), a.seed())
			waitFor(t, 5*time.Second, "a to refuse r", func() bool { return a.Stats().BadMeta == uint64(i+1) })
			if !a.log.has("member refused", "member=r", tc.why) {
				t.Errorf("a's log does not say %q", tc.why)
			}
			if got := a.states(); got != "a=alive" {
				t.Errorf("a sees %s", got)
			}
			_ = r.ml.Shutdown()
		})
	}
	if s := a.Stats(); s.Conflicts != 0 || s.Overlaps != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A member admitted, then announcing bad metadata, is hidden until it
// announces good metadata again.
func TestBadMetaLater(t *testing.T) {
	a := start(t, Config{Self: meta("a", 72)})
	good := meta("r", 101)
	r := startRaw(t, "r", "127.0.0.101", good.encode(false), a.seed())
	waitStates(t, "a=alive r=alive", a)
	r.setMeta(t, []byte(`{"v":1,"name":"r","addr":"127.0.0.101","asn":1,"mode":"bridged"}`))
	waitStates(t, "a=alive", a)
	r.setMeta(t, good.encode(false))
	waitStates(t, "a=alive r=alive", a)
	if got := a.Members()[1].Meta; got.Mode != "overlay" {
		t.Errorf("r is %+v", got)
	}
	if s := a.Stats(); s != (Stats{BadMeta: 1}) {
		t.Errorf("stats %+v", s)
	}
}

// Another host with a member's node name or underlay address, or with a
// block that overlaps ours, is refused, logged with both sides, counted.
func TestConflicts(t *testing.T) {
	a := start(t, Config{Self: meta("a", 81)})
	b := start(t, Config{Self: meta("b", 82), Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive", a, b)
	bAddr := b.Members()[1].Addr

	// b's name at another address: memberlist keeps the first.
	start(t, Config{Self: meta("b", 83), Seeds: []string{a.seed()}})
	waitFor(t, 5*time.Second, "a to refuse the second b", func() bool { return a.Stats().Conflicts == 1 })
	if !a.log.has("member refused", "member=b", "127.0.0.83", "node name already used by member at 127.0.0.82") {
		t.Error("a's log does not name both b")
	}
	// a's own name.
	start(t, Config{Self: meta("a", 84), Seeds: []string{a.seed()}})
	waitFor(t, 5*time.Second, "a to refuse the second a", func() bool { return a.Stats().Conflicts == 2 })
	if !a.log.has("member refused", "member=a", "127.0.0.84", "node name is this host's") {
		t.Error("a's log does not say its name was taken")
	}
	// b's address under another name (another port: one host, two agents).
	z := meta("z", 82)
	z.Blocks = []netip.Prefix{netip.MustParsePrefix("10.244.182.0/24")}
	start(t, Config{Self: z, Seeds: []string{a.seed()}})
	waitFor(t, 5*time.Second, "a to refuse z", func() bool { return a.Stats().Conflicts == 3 })
	if !a.log.has("member refused", "member=z", "address 127.0.0.82 is already member b's") {
		t.Error("a's log does not name z and b")
	}

	// A block overlapping a's: a refuses it, b (whose block it does not
	// overlap) takes it.
	o := meta("o", 85)
	o.Blocks = []netip.Prefix{netip.MustParsePrefix("10.244.81.128/25")}
	start(t, Config{Self: o, Seeds: []string{a.seed()}})
	waitFor(t, 5*time.Second, "a to refuse o", func() bool { return a.Stats().Overlaps == 1 })
	if !a.log.has("member refused", "member=o", "block 10.244.81.128/25 overlaps this host's block 10.244.81.0/24") {
		t.Error("a's log does not name both blocks")
	}
	waitStates(t, "a=alive b=alive o=alive", b)

	if got := a.states(); got != "a=alive b=alive" {
		t.Errorf("a sees %s", got)
	}
	if got := a.Members()[1].Addr; got != bAddr {
		t.Errorf("a's b is at %s, want the first, %s", got, bAddr)
	}
	if s := a.Stats(); s != (Stats{Conflicts: 3, Overlaps: 1}) {
		t.Errorf("stats %+v", s)
	}
}
