package evpn

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

const (
	testASN        = bgptest.ASN
	sessionTimeout = bgptest.SessionTimeout
)

// hostNetworks are the networks of a test host with VTEP vtep.
func hostNetworks(vtep netip.Addr, vnis ...uint32) []Network {
	var out []Network
	for i, vni := range vnis {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(243 + vni/100), 0, 0}), 16) // 100: 10.244/16, 200: 10.245/16, 300: 10.246/16
		out = append(out, Network{
			Name: fmt.Sprintf("net%d", vni), VNI: vni, Subnets: []netip.Prefix{subnet}, RDIndex: uint16(i + 1),
			Device: overlay.Device{VNI: vni, Network: fmt.Sprintf("net%d", vni), Bridge: overlay.BridgeName(vni), VXLAN: overlay.VXLANName(vni),
				VTEP: vtep, Underlay: "lo", Port: 4789, MTU: 1450, GatewayMAC: overlay.DefaultGatewayMAC,
				Gateway: netip.PrefixFrom(subnet.Addr().Next(), 16)},
		})
	}
	return out
}

// host is one agent under test: a speaker and a Source on a loopback
// address, with the snapshots it published.
type host struct {
	*bgptest.Speaker
	vtep netip.Addr
	src  *Source
	stop func() // stops Run (the speaker is stopped in cleanup)

	mu      sync.Mutex
	history []overlay.State
}

type hostOpts struct {
	syncTimeout time.Duration
	vnis        []uint32
	beforeRun   func(*Source) // e.g. the endpoints the agent loads before Run
}

// newHost starts h's speaker; run starts its Source.
func newHost(t testing.TB, name, ip, rid, vtep string) *host {
	t.Helper()
	return &host{Speaker: bgptest.Start(t, name, ip, bgp.Config{ASN: testASN, RouterID: rid}), vtep: netip.MustParseAddr(vtep)}
}

// run starts h's Source. GoBGP v3 keeps route-selection options in package
// variables that every StartBgp writes and every route update reads
// (server.go:2470, table_manager.go:309): start all speakers of a test
// before any Source sends routes, and never run such tests in parallel.
func (h *host) run(t testing.TB, o hostOpts) *host {
	t.Helper()
	if len(o.vnis) == 0 {
		o.vnis = []uint32{100, 200}
	}
	log := bgptest.Logger(t).With("host", h.Name)
	h.src = NewSource(Config{ASN: testASN, RouterID: netip.MustParseAddr(h.RouterID), VTEP: h.vtep, Networks: hostNetworks(h.vtep, o.vnis...),
		Logger: log, SyncTimeout: o.syncTimeout}, h.Speaker.Speaker, h.record)
	if o.beforeRun != nil {
		o.beforeRun(h.src)
	}
	h.stop = bgptest.RunSource(t, h.Name, h.Speaker.Speaker, h.src.Handler(), h.src.Run) // in cleanup, before the speaker's Stop
	return h
}

// record keeps the desired state as of each published change (the
// Source publishes changes: a State is what they add up to).
func (h *host) record(d overlay.Delta) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := overlay.NewState()
	if n := len(h.history); n > 0 {
		st = h.history[n-1].Clone()
	}
	st.ApplyDelta(d)
	h.history = append(h.history, st)
}

func (h *host) published() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.history)
}

func (h *host) state() overlay.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.history) == 0 {
		return overlay.NewState()
	}
	return h.history[len(h.history)-1]
}

func (h *host) statesSince(i int) []overlay.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]overlay.State(nil), h.history[i:]...)
}

// mesh peers every host with every other one, after each has originated
// its routes (Ready), as the agent does.
func mesh(t testing.TB, hosts ...*host) {
	t.Helper()
	for _, h := range hosts {
		select {
		case <-h.src.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Source not ready", h.Name)
		}
		var others []*bgptest.Speaker
		for _, o := range hosts {
			if o != h {
				others = append(others, o.Speaker)
			}
		}
		h.Peer(t, nil, others...)
	}
}

// remoteOf renders the remote entries of h's latest snapshot.
func (h *host) remote() string { return remote(h.state()) }

func waitRemote(t testing.TB, h *host, want []string, timeout time.Duration) {
	t.Helper()
	w := strings.Join(want, "\n")
	deadline := time.Now().Add(timeout)
	for {
		got := h.remote()
		if got == w {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s state:\n%s\nwant\n%s", h.Name, got, w)
		}
		time.Sleep(time.Millisecond)
	}
}

func ep(id, network, mac string, ips ...string) endpoint.Endpoint {
	e := endpoint.Endpoint{ContainerID: id, IfName: "eth0", Network: network, MAC: overlay.MustParseMAC(mac)}
	for _, ip := range ips {
		e.IPs = append(e.IPs, netip.MustParseAddr(ip))
	}
	return e
}

// setEndpoints makes eps the Source's endpoints, as the agent's registry
// would: a put for each, a delete for each one gone.
func setEndpoints(s *Source, eps ...endpoint.Endpoint) {
	keep := map[endpoint.Key]bool{}
	for _, e := range eps {
		keep[e.Key()] = true
	}
	for _, k := range s.eps.Keys() {
		if !keep[k] {
			s.DeleteEndpoint(k)
		}
	}
	for _, e := range eps {
		s.PutEndpoint(e)
	}
}

// Lines of the iproute2 rendering, for expectations.
func fdbLine(mac string, vni uint32, vtep string) string {
	return fmt.Sprintf("fdb %s dev vxlan%d dst %s self master extern_learn", mac, vni, vtep)
}
func floodLine(vni uint32, vtep string) string {
	return fmt.Sprintf("fdb 00:00:00:00:00:00 dev vxlan%d dst %s self permanent", vni, vtep)
}
func neighLine(ip, mac string, vni uint32) string {
	return fmt.Sprintf("neigh %s lladdr %s dev vxbr%d nud noarp extern_learn", ip, mac, vni)
}

// sorted returns lines sorted like State.String.
func sorted(lines ...string) []string {
	st := strings.Split(strings.Join(lines, "\n"), "\n")
	slices.Sort(st)
	return st
}

// chained marks e as made by another plugin.
func chained(e endpoint.Endpoint) endpoint.Endpoint {
	e.Chained = true
	return e
}
