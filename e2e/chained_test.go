package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// refPluginsVersion is the reference plugins' release the chaining
// acceptance names (as in cni/plugin's tests).
const refPluginsVersion = "v1.10.0"

// installRefPlugins builds the reference ptp and host-local into a
// temporary directory with go install (module proxy or cache).
func installRefPlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"install"}
	for _, p := range []string{"main/ptp", "ipam/host-local"} {
		args = append(args, "github.com/containernetworking/plugins/plugins/"+p+"@"+refPluginsVersion)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir // outside the module: pkg@version ignores go.mod anyway
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go install reference plugins %s: %v\n%s", refPluginsVersion, err, out)
		}
		t.Skipf("SKIPPED: go install reference plugins %s: %v\n%s", refPluginsVersion, err, out)
	}
	return dir
}

// TestChainedPTP: vxbgp-cni chained after the reference ptp
// plugin. The pod's address, outside every block, is advertised as a host
// route (no type-2: its MAC is not behind the bridge); a pod on another
// host reaches it and back (proxy ARP on that host's bridge, routed to h1,
// ptp's host route; the reply goes over h1's bridge and VXLAN); CNI DEL
// withdraws the route from the other host's table and kernel.
func TestChainedPTP(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 2})
	refDir := installRefPlugins(t)
	h1, h2 := l.Host(1), l.Host(2)
	remote, err := l.Pod(ctx, h2, "h2p1")
	must(t, err)
	converge(t, ctx, l)

	chain := lab.Chain{
		Name: "ptp-vxbgp",
		Dir:  refDir,
		Plugins: []map[string]any{
			{"type": "ptp", "ipam": map[string]any{
				"type":    "host-local",
				"dataDir": filepath.Join(l.Dir, "h1-host-local"),
				"ranges": []any{[]any{map[string]any{
					"subnet": lab.PodSubnet, "rangeStart": "10.244.200.10", "rangeEnd": "10.244.200.50",
				}}},
			}},
			{"type": lab.BinCNI, "chained": true, "network": lab.NetworkName, "socket": h1.Socket, "stateDir": h1.StateDir},
		},
	}
	cp, err := l.ChainedPod(ctx, h1, "h1c1", chain)
	must(t, err)
	host := cp.IP.String() + "/32"

	// h2 learns the host route from h1 and installs it; no type-2 for the
	// ptp pod's MAC.
	err = lab.Eventually(ctx, "h2 to install "+host, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		routes, err := h2.Routes(ctx)
		if err != nil {
			return false, err
		}
		ok := false
		for _, r := range routes {
			if r.Type == "type-2" && strings.EqualFold(r.MAC, cp.MAC) {
				return false, lab.Permanent(fmt.Errorf("h2 has a type-2 for the chained pod: %+v", r))
			}
			if r.Type == "ipv4" && r.IP == host && r.Source == h1.Addr && r.NextHop == h1.Addr && r.Best {
				ok = true
			}
		}
		if !ok {
			return false, fmt.Errorf("no best ipv4 route %s from %s in h2's routes %+v", host, h1.Addr, routes)
		}
		kr, err := lab.IP(ctx, h2.NS, "route", "show", "proto", "201")
		if err != nil {
			return false, err
		}
		if !strings.Contains(kr, cp.IP.String()+" via "+h1.Addr) {
			return false, fmt.Errorf("h2's kernel routes (proto 201) lack %s via %s:\n%s", cp.IP, h1.Addr, kr)
		}
		return true, nil
	})
	must(t, err)

	// Both ways across hosts, and locally on h1.
	err = lab.Eventually(ctx, remote.Name+" to reach "+cp.Name, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := lab.Ping(ctx, remote.NS, cp.IP.String(), 1)
		return err == nil && st.Received == 1, err
	})
	must(t, err)
	pingAll(t, ctx, remote, cp.Name, cp.IP.String(), "chained pod advertised")
	pingAll(t, ctx, cp, remote.Name, remote.IP.String(), "chained pod advertised")
	if t.Failed() {
		t.FailNow()
	}

	// DEL: the endpoint is withdrawn, h2 drops the route and kernel route.
	must(t, l.DelChainedPod(ctx, cp, chain))
	err = lab.Eventually(ctx, "h2 to drop "+host, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		routes, err := h2.Routes(ctx)
		if err != nil {
			return false, err
		}
		for _, r := range routes {
			if r.IP == host {
				return false, fmt.Errorf("h2 still has %+v", r)
			}
		}
		kr, err := lab.IP(ctx, h2.NS, "route", "show", "proto", "201")
		if err != nil {
			return false, err
		}
		if strings.Contains(kr, cp.IP.String()+" ") {
			return false, fmt.Errorf("h2's kernel still routes %s:\n%s", cp.IP, kr)
		}
		return true, nil
	})
	must(t, err)
	if eps, err := h1.Endpoints(ctx); err != nil || len(eps) != 0 {
		t.Errorf("h1's endpoints after DEL: %+v %v", eps, err)
	}
}
