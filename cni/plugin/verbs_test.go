package plugin

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// TestExhaustedBlock: once the block is full ADD fails with a message
// naming the block, leaves nothing behind, and the store stays intact; a
// DEL frees room again.
func TestExhaustedBlock(t *testing.T) {
	e := newTestEnv(t)
	tiny := ipam.NetworkInfo{
		Name: "tiny", VNI: 300, Bridge: "vxbr300",
		Pools: []ipam.Pool{{
			Subnet:  netip.MustParsePrefix("10.244.0.0/16"),
			Block:   netip.MustParsePrefix("10.244.9.0/30"), // .1 and .2: .0 and .3 are not for pods
			Gateway: netip.MustParseAddr("10.244.0.1"),
		}},
	}
	if err := ipam.WriteNetworks(e.stateDir, []ipam.NetworkInfo{e.net, tiny}); err != nil {
		t.Fatal(err)
	}
	nstest.IP(t, e.host, "link", "add", tiny.Bridge, "type", "bridge")
	nstest.IP(t, e.host, "link", "set", tiny.Bridge, "up")
	conf := e.conf("1.1.0", map[string]any{"network": "tiny"})
	pods := make([]string, 3)
	for i := range pods {
		_, _, pods[i] = newPod(t)
	}
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "t0", netns: pods[0], conf: conf})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "t1", netns: pods[1], conf: conf})
	_, cniErr := e.run(t, pluginRun{cmd: "ADD", containerID: "t2", netns: pods[2], conf: conf})
	if cniErr == nil || !strings.Contains(cniErr.Msg, "block 10.244.9.0/30 of network tiny exhausted: 2 addresses in use") {
		t.Fatalf("third ADD in a /30: %v, want the block named as exhausted", cniErr)
	}
	if recs, err := e.store(t).List(); err != nil || len(recs) != 2 {
		t.Errorf("store %+v (%v), want the two pods", recs, err)
	}
	if v := e.hostVeths(t); len(v) != 2 {
		t.Errorf("host veths %v, want two", v)
	}
	assertStoreClean(t, e)
	e.mustRun(t, pluginRun{cmd: "DEL", containerID: "t0", netns: pods[0], conf: conf})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "t2", netns: pods[2], conf: conf})
	if rec, ok, _ := e.store(t).Get("t2", "eth0"); !ok || rec.IPs[0].String() != "10.244.9.1" {
		t.Errorf("after a DEL the next pod got %+v", rec)
	}
}

// TestVerbVersions: STATUS and GC exist from 1.1.0 on; a config of an
// older version gets the spec's code 1 (incompatible version), not an
// attempt. With 1.1.0 both work.
func TestVerbVersions(t *testing.T) {
	e := newTestEnv(t)
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		for _, cmd := range []string{"STATUS", "GC"} {
			_, cniErr := e.run(t, pluginRun{cmd: cmd, conf: e.conf(ver, nil)})
			if ver == "1.1.0" {
				if cniErr != nil {
					t.Errorf("%s %s: %v", cmd, ver, cniErr)
				}
				continue
			}
			if cniErr == nil || cniErr.Code != types.ErrIncompatibleCNIVersion {
				t.Errorf("%s with %s = %v, want code 1", cmd, ver, cniErr)
			}
		}
	}
}
