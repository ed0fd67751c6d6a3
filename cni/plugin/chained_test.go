package plugin

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// TestChainedAfterPTP: the reference ptp plugin (with host-local) makes
// the interface; vxbgp-cni, "chained": true, records and announces it and
// passes ptp's result on unchanged; CHECK passes; DEL withdraws it and
// ptp's DEL removes the interface.
func TestChainedAfterPTP(t *testing.T) {
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			e := newTestEnv(t)
			r := e.runtime(t)
			ptp := map[string]any{"type": "ptp", "ipam": map[string]any{
				"type":    "host-local",
				"dataDir": t.TempDir(),
				"ranges": []any{[]any{map[string]any{
					"subnet": "10.244.0.0/16", "rangeStart": "10.244.200.10", "rangeEnd": "10.244.200.20",
				}}},
			}}
			list := e.conflistRaw(t, ver, "vxchained", ptp, map[string]any{
				"type": "vxbgp-cni", "chained": true, "stateDir": e.stateDir, "socket": e.socket,
			})
			rt := r.rt("chained1", e.podPath, nil)
			res := r.add(t, list, rt)

			podLink, err := e.podH.LinkByName("eth0")
			if err != nil {
				t.Fatal(err)
			}
			mac := podLink.Attrs().HardwareAddr.String()
			// ptp's result, unchanged: its host veth and eth0, its address.
			if len(res.Interfaces) != 2 || !strings.HasPrefix(res.Interfaces[0].Name, "veth") || res.Interfaces[1].Name != "eth0" || res.Interfaces[1].Mac != mac {
				t.Errorf("chain result interfaces %s", resultString(res))
			}
			if len(res.IPs) != 1 || res.IPs[0].Address.IP.String() != "10.244.200.10" {
				t.Errorf("chain result IPs %s", resultString(res))
			}
			rec, ok, err := e.store(t).Get("chained1", "eth0")
			if err != nil || !ok {
				t.Fatalf("store: %v %v", ok, err)
			}
			wantEP := localapi.Endpoint{ContainerID: "chained1", IfName: "eth0", Network: "pods", HostIf: res.Interfaces[0].Name,
				MAC: mac, IPs: []string{"10.244.200.10"}, Netns: e.podPath, Chained: true}
			if got := localapi.FromEndpoint(rec.Endpoint()); !reflect.DeepEqual(got, wantEP) {
				t.Errorf("store endpoint %+v, want %+v", got, wantEP)
			}
			if got := e.agent.take(); !reflect.DeepEqual(got, []agentRequest{{Method: "PUT", Endpoint: wantEP}}) {
				t.Errorf("agent got %+v, want one PUT of %+v", got, wantEP)
			}
			if err := r.check(list, rt); err != nil {
				t.Errorf("CHECK: %v", err)
			}
			if ver == "1.1.0" {
				if err := r.status(list); err != nil {
					t.Errorf("STATUS: %v", err)
				}
			}
			// The address is held: vxbgp-cni's own IPAM never gives it out.
			if err := e.store(t).Claim(ipam.Record{ContainerID: "x", IfName: "eth0", Network: "pods", IPs: rec.IPs}); err == nil {
				t.Errorf("%s claimed twice", rec.IPs)
			}

			r.del(t, list, rt)
			if _, ok, _ := e.store(t).Get("chained1", "eth0"); ok {
				t.Error("chained endpoint still recorded after DEL")
			}
			q := url.Values{"containerID": {"chained1"}, "ifName": {"eth0"}}.Encode()
			if got := e.agent.take(); !reflect.DeepEqual(got, []agentRequest{{Method: "DELETE", Query: q}}) {
				t.Errorf("agent got %+v, want one DELETE", got)
			}
			if _, err := e.podH.LinkByName("eth0"); !isNotFound(err) {
				t.Errorf("pod eth0 still there after DEL (%v)", err)
			}
			nstest.IP(t, e.host, "link", "show") // the host netns is still usable
		})
	}
}

// TestChainedErrors: chained without a previous plugin, or with addresses
// outside the network's subnet, is an invalid config naming the key.
func TestChainedErrors(t *testing.T) {
	e := newTestEnv(t)
	r := e.runtime(t)
	alone := e.conflist(t, "1.1.0", "vxalone", map[string]any{"chained": true})
	err := r.withHost(func() error {
		_, err := r.cfg.AddNetworkList(t.Context(), alone, r.rt("c1", e.podPath, nil))
		return err
	})
	wantCode(t, "chained without prevResult", err, 7, `"chained"`)

	ptp := map[string]any{"type": "ptp", "ipam": map[string]any{
		"type": "host-local", "dataDir": t.TempDir(),
		"ranges": []any{[]any{map[string]any{"subnet": "10.99.0.0/24"}}},
	}}
	outside := e.conflistRaw(t, "1.1.0", "vxoutside", ptp, map[string]any{
		"type": "vxbgp-cni", "chained": true, "stateDir": e.stateDir, "socket": e.socket,
	})
	err = r.withHost(func() error {
		_, err := r.cfg.AddNetworkList(t.Context(), outside, r.rt("c2", e.podPath, nil))
		return err
	})
	wantCode(t, "chained with an address outside the subnet", err, 7, "inside subnet 10.244.0.0/16")
	if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
		t.Errorf("store %+v (%v)", recs, err)
	}
}
