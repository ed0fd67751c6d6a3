package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestCLI runs vxbgpctl against real agents: version, filters, and the
// formats on a live answer (cmd/vxbgpctl's unit tests cover each case
// against a fake agent).
func TestCLI(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 2})
	pods := addPods(t, ctx, l, 1)
	converge(t, ctx, l)
	h1, h2 := l.Host(1), l.Host(2)
	remote := pods[1]

	out, err := h1.Ctl(ctx, "version")
	must(t, err)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "Client Version:") || !strings.HasPrefix(lines[1], "Agent Version:") {
		t.Errorf("vxbgpctl version:\n%s\nwant the client's and the agent's", out)
	}

	list := func(v any, args ...string) {
		t.Helper()
		out, err := h1.Ctl(ctx, append(args, "-o", "json")...)
		must(t, err)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("vxbgpctl %v: %v: %q", args, err, out)
		}
	}
	var rs []localapi.Route
	list(&rs, "routes", "--type", "3", "--vni", strconv.Itoa(lab.VNI))
	if len(rs) != 2 || rs[0].Type != "type-3" || rs[1].Type != "type-3" {
		t.Errorf("routes --type 3: %+v, want h1's and h2's type-3", rs)
	}
	list(&rs, "routes", "--type", "2", "--peer", h2.Addr)
	if len(rs) != 1 || !strings.EqualFold(rs[0].MAC, remote.MAC) || rs[0].NextHop != h2.Addr || rs[0].Label != lab.VNI {
		t.Errorf("routes --type 2 --peer %s: %+v, want %s's pod %s, label %d", h2.Addr, rs, h2.Name, remote.MAC, lab.VNI)
	}
	var fdb []localapi.FDBEntry
	list(&fdb, "fdb", "--vni", strconv.Itoa(lab.VNI))
	if !hasFDB(fdb, "mac", remote.MAC) || !hasFDB(fdb, "flood", "00:00:00:00:00:00") {
		t.Errorf("fdb --vni %d: %+v, want %s and a flood entry", lab.VNI, fdb, remote.MAC)
	}
	var eps []localapi.Endpoint
	if list(&eps, "endpoints", "--network", lab.NetworkName); len(eps) != 1 || eps[0].ContainerID != pods[0].ContainerID {
		t.Errorf("endpoints --network %s: %+v, want h1's pod", lab.NetworkName, eps)
	}
	if list(&eps, "endpoints", "--network", "other"); len(eps) != 0 {
		t.Errorf("endpoints --network other: %+v, want none", eps)
	}

	out, err = h1.Ctl(ctx, "status", "-o", "yaml")
	must(t, err)
	var st localapi.Status
	if err := yaml.Unmarshal([]byte(out), &st); err != nil || st.NodeName != h1.Name || !st.Ready || st.LastError != "" || len(st.Families) == 0 {
		t.Errorf("status -o yaml (%v):\n%s\nwant %s, ready, no last error, route counts per family", err, out, h1.Name)
	}
	out, err = h1.Ctl(ctx, "peers", "-o", "wide")
	must(t, err)
	if !strings.Contains(out, "FAMILY") || !strings.Contains(out, h2.Addr) {
		t.Errorf("peers -o wide:\n%s", out)
	}
	t.Logf("h1: vxbgpctl peers -o wide\n%s", out)
	// The speaker's per-family counts reach the CLI: h2 sent h1 its pod
	// (type-2), its flood route (type-3) and its block (ipv4), and h1
	// advertised its own.
	var peers []localapi.Peer
	list(&peers, "peers")
	fams := map[string]localapi.PeerFamily{}
	for _, p := range peers {
		if p.Address == h2.Addr {
			for _, f := range p.Families {
				fams[f.Family] = f
			}
		}
	}
	if f := fams["l2vpn-evpn"]; f.Received < 2 || f.Accepted < 2 || f.Advertised < 2 {
		t.Errorf("h1's peer %s, l2vpn-evpn: %+v, want at least 2 received, accepted and advertised (%+v)", h2.Addr, f, peers)
	}
	if f := fams["ipv4-unicast"]; f.Received < 1 || f.Advertised < 1 {
		t.Errorf("h1's peer %s, ipv4-unicast: %+v, want its block received and ours advertised (%+v)", h2.Addr, f, peers)
	}
	out, _ = h1.Ctl(ctx, "routes", "-o", "wide")
	t.Logf("h1: vxbgpctl routes -o wide\n%s", out)
}

func hasFDB(fdb []localapi.FDBEntry, kind, mac string) bool {
	for _, f := range fdb {
		if f.Kind == kind && strings.EqualFold(f.MAC, mac) {
			return true
		}
	}
	return false
}
