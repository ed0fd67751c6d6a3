package agent

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/routed"
)

// endpointAgent is an agent with just what the endpoint bookkeeping uses:
// sources that are never run (no speaker), so only their inputs move.
func endpointAgent() *agent {
	log := slog.New(slog.DiscardHandler)
	return &agent{
		log:       log,
		src:       evpn.NewSource(evpn.Config{Logger: log}, nil, nil),
		rsrc:      routed.NewSource(routed.Config{NextHop4: netip.MustParseAddr("10.250.0.1"), Logger: log}, nil, nil),
		endpoints: map[string]localapi.Endpoint{},
		chained:   map[string]localapi.Endpoint{},
		touched:   map[string]uint64{},
	}
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func ep(id string, chained bool) localapi.Endpoint {
	return localapi.Endpoint{ContainerID: id, IfName: "eth0", Network: "pods", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5"}, Chained: chained}
}

// The store is the truth, but a resync must not undo an API change that
// came while it was reading: the store read may predate the change.
func TestResyncKeepsAPIChangesMadeWhileReading(t *testing.T) {
	a := endpointAgent()
	a.loadFinish(a.loadBegin(), []localapi.Endpoint{ep("a", false), ep("b", true)})
	if got := keys(a.endpoints); got != "a/eth0,b/eth0" {
		t.Fatalf("after the first load: %s", got)
	}
	if got := keys(a.chained); got != "b/eth0" {
		t.Fatalf("chained after the first load: %s", got)
	}

	// An endpoint announced but never recorded goes at the next resync.
	a.putEndpoint(ep("x", false))
	a.loadFinish(a.loadBegin(), []localapi.Endpoint{ep("a", false), ep("b", true)})
	if got := keys(a.endpoints); got != "a/eth0,b/eth0" {
		t.Fatalf("an API-only endpoint survived a later resync: %s", got)
	}

	// While a resync reads the store: c is added (its record came after the
	// read), a and b are deleted (their records were still there).
	seq0 := a.loadBegin()
	a.putEndpoint(ep("c", false))
	a.delEndpoint(localapi.EndpointKey("a", "eth0"))
	a.delEndpoint(localapi.EndpointKey("b", "eth0"))
	a.loadFinish(seq0, []localapi.Endpoint{ep("a", false), ep("b", true)})
	if got := keys(a.endpoints); got != "c/eth0" {
		t.Fatalf("resync during API changes: endpoints %s, want c/eth0", got)
	}
	if got := keys(a.chained); got != "" {
		t.Fatalf("resync during API changes: chained %s, want none", got)
	}

	// The next resync sees the store as it is now; the API's word is spent.
	a.loadFinish(a.loadBegin(), []localapi.Endpoint{ep("c", false)})
	if got := keys(a.endpoints); got != "c/eth0" || len(a.touched) != 0 {
		t.Fatalf("settled: endpoints %s touched %v", got, a.touched)
	}
}
