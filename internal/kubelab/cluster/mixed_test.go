package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// The pod network shared by a cluster and bare-metal hosts (README,
// Mixing hosts and a cluster): the network's subnet is the whole /16, the
// controller-manager hands out podCIDRs from its lower half, and a
// bare-metal host takes its block from the upper half.
const (
	mixedClusterCIDR = "10.244.0.0/17"
	bareMetalBlock   = "10.244.200.0/24"
)

// TestPodman is the bare-metal-with-containers case beside a cluster: one
// more lab host, not a Node, runs vxbgpd from the binary and a config
// file as on bare metal, and podman 4.3 with its CNI backend runs a
// container there with `podman run --network vxbgp` through vxbgp-cni.
// The cluster runs vxbgp as users deploy it (the DaemonSet), its
// ConfigMap naming the bare-metal host as the discovery seed, as the
// host's own config does: the agents find each other by gossip and peer
// iBGP. The container and pods on both nodes must reach each other, and
// `podman rm` must take the container's endpoint away.
func TestPodman(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nstest.RequireTool(t, "podman") // .ci/run installs it
	t0 := time.Now()
	c, bin := startClusterWith(ctx, t, Options{Nodes: 2, ClusterCIDR: mixedClusterCIDR})
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t)))) // internal/kubelab/cluster

	// The bare-metal host: a lab host with vxbgpd and podman, no kubelet.
	h, err := c.Lab.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := newPodman(ctx, h.NS, filepath.Join(c.Dir, "podman"), c.CNIBin, "/kubelab-"+c.ID+"-podman",
		filepath.Join(bin, "kubelab-pause"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the cluster's cleanup: the agents still answer the DELs
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := pm.Close(cctx); err != nil {
			t.Errorf("podman cleanup: %v", err)
		}
	})
	if err := writeBareMetal(root, h, pm.NetDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("bare-metal host %s (%s) config:\n%s", h.Name, h.Addr, mustRead(t, h.ConfigPath))
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The agent writes podman's network once ready (cni.conflistDest).
	if err := c.poll(ctx, time.Minute, "the bare-metal agent to write the conflist", func() (bool, error) {
		_, err := os.Stat(filepath.Join(pm.NetDir, "10-vxbgp.conflist"))
		return err == nil, nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, c.Lab.LogTail(30))
	}

	// The cluster: the DaemonSet, its ConfigMap with the same seed.
	_, tar := buildImage(t, root, bin)
	seed := func(cfg string) string {
		return cfg + "discovery:\n  join: [" + h.Addr + "]   # the bare-metal hosts (README: Mixing hosts and a cluster)\n"
	}
	if err := c.Deploy(ctx, DeployOptions{Manifests: filepath.Join(root, "deploy/kubernetes"), ImageTar: tar, Config: seed}); err != nil {
		logAgents(ctx, t, c)
		t.Fatal(err)
	}
	t1 := time.Now()
	waitMixedPeers(ctx, t, c, h)
	t.Logf("TIMING bare-metal and cluster agents peered (after the DaemonSet was ready): %s", time.Since(t1).Round(time.Millisecond))

	// A container on the bare-metal host, a pod on each node.
	t2 := time.Now()
	ctr, err := pm.Run(ctx, "pm-"+c.ID, "vxbgp")
	if err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, c.Lab.LogTail(20))
	}
	t.Logf("TIMING podman run --network vxbgp: %s; container %s: %s (netns %s)", time.Since(t2).Round(time.Millisecond),
		ctr.name, ctr.ip, ctr.ns)
	if ip, err := netip.ParseAddr(ctr.ip); err != nil || !netip.MustParsePrefix(bareMetalBlock).Contains(ip) {
		t.Errorf("container address %q, want one in the bare-metal block %s", ctr.ip, bareMetalBlock)
	}
	eps := []lab.Endpoint{ctr}
	for _, n := range c.Nodes {
		name := "mx-" + n.Name
		ip, err := c.RunPod(ctx, name, n)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := c.PodNetns(ctx, n, ip, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pod %s on %s (podCIDR %s): %s", name, n.Name, n.PodCIDR, ip)
		eps = append(eps, endpoint{name, ns, ip})
	}
	t3 := time.Now()
	m := waitMatrix(ctx, t, c, "the container and the pods to reach each other", eps)
	t.Logf("TIMING every pair answered %s after the last pod ran; ping matrix:\n%s", time.Since(t3).Round(time.Millisecond), m)

	// podman rm: CNI DEL through vxbgp-cni, the endpoint leaves the agent.
	if _, err := pm.run(ctx, nil, "rm", "-f", "-t", "0", ctr.name); err != nil {
		t.Fatal(err)
	}
	api := localapi.NewClient(h.Socket)
	if err := c.poll(ctx, 30*time.Second, "the container's endpoint gone from the bare-metal agent", func() (bool, error) {
		eps, err := api.Endpoints(ctx)
		return err == nil && len(eps) == 0, nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("TIMING whole test before teardown: %s", time.Since(t0).Round(time.Millisecond))
}

// writeBareMetal writes host h's config as README's bare-metal install
// has an operator write it (nodeName, underlay.address, its own block),
// plus the discovery seed the cluster's ConfigMap names too, and the
// conflist the agent installs for podman once ready: the shipped one
// (deploy/cni) with this host's socket and state dir, and cniVersion
// 1.0.0: Debian's reference plugins 1.1.1 (the portmap and bandwidth it
// chains) refuse 1.1.0.
func writeBareMetal(root string, h *lab.Host, podmanNetDir string) error {
	shipped, err := os.ReadFile(filepath.Join(root, "deploy/cni/10-vxbgp.conflist"))
	if err != nil {
		return err
	}
	conflist := strings.NewReplacer(`"cniVersion": "1.1.0"`, `"cniVersion": "1.0.0"`,
		`"/run/vxbgp/vxbgp.sock"`, fmt.Sprintf("%q", h.Socket),
		`"/var/lib/vxbgp"`, fmt.Sprintf("%q", h.StateDir)).Replace(string(shipped))
	src := filepath.Join(h.Dir, "10-vxbgp.conflist")
	if err := os.WriteFile(src, []byte(conflist), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`nodeName: bm-%[1]s
mode: overlay
underlay:
  address: %[2]s
bgp:
  asn: %[3]d
discovery:
  join: [%[2]s]              # the seeds: the bare-metal hosts; the cluster's ConfigMap names them too
networks:
  - name: %[4]s
    vni: %[5]d
    subnet: %[6]s       # the whole pod network, the cluster's included
    gateway: %[7]s
    block: %[8]s      # outside kube-controller-manager's --cluster-cidr %[9]s
stateDir: %[10]s
api:
  socket: %[11]s
metrics:
  listen: 127.0.0.1:9642
cni:
  conflistSource: %[12]s
  conflistDest: %[13]s
`, h.Name, h.Addr, lab.ASN, lab.NetworkName, lab.VNI, lab.PodSubnet, lab.PodGateway, bareMetalBlock, mixedClusterCIDR,
		h.StateDir, h.Socket, src, filepath.Join(podmanNetDir, "10-vxbgp.conflist"))
	return os.WriteFile(h.ConfigPath, []byte(cfg), 0o644)
}

// waitMixedPeers waits until the bare-metal agent has an established
// session with every node's agent (discovered), and every node's agent
// with the other nodes (kubernetes) and the bare-metal host (discovered).
func waitMixedPeers(ctx context.Context, t *testing.T, c *Cluster, h *lab.Host) {
	t.Helper()
	check := func(who string, api *localapi.Client, want map[string]string) {
		var got []localapi.Peer
		err := c.poll(ctx, 2*time.Minute, who+"'s sessions", func() (bool, error) {
			ps, err := api.Peers(ctx)
			if err != nil {
				return false, nil
			}
			got = ps
			n := 0
			for _, p := range ps {
				if src, ok := want[p.Address]; ok && p.Source == src && p.State == "established" {
					n++
				}
			}
			return n == len(want) && len(ps) == n, nil
		})
		if err != nil {
			t.Fatalf("%v: want %v, have %+v\nbare-metal agent log:\n%s", err, want, got, c.Lab.LogTail(20))
		}
	}
	fromBM := map[string]string{}
	for _, n := range c.Nodes {
		fromBM[n.Host.Addr] = "discovered"
	}
	check("the bare-metal agent", localapi.NewClient(h.Socket), fromBM)
	for _, n := range c.Nodes {
		want := map[string]string{h.Addr: "discovered"}
		for _, o := range c.Nodes {
			if o != n {
				want[o.Host.Addr] = "kubernetes"
			}
		}
		check(n.Name, localapi.NewClient(filepath.Join(n.Dir, "host/run/vxbgp/vxbgp.sock")), want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
