package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestKubernetesNodes runs the agent (fake kernel and speaker) with
// kubernetes.enabled against a real kube-apiserver, etcd and
// kube-controller-manager (node IPAM: it assigns the podCIDRs), as the
// DaemonSet's service account with exactly deploy/kubernetes/rbac.yaml's
// rights: one config without underlay address, blocks or peers waits
// for its Node's podCIDR (not ready, saying why), then takes its block
// and address from the Node and peers with the other Nodes as they come,
// go and change address; its own address changing ends it.
func TestKubernetesNodes(t *testing.T) {
	sa := kubelab.ServiceAccountUser("kube-system", "vxbgp")
	bin := kubelab.Require(t, kubelab.APIServer, kubelab.ControllerManager)
	cp := kubelab.New(t, kubelab.Options{Bin: bin, Users: []kubelab.User{sa}})
	admin, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kubelab.ApplyFile(ctx, admin, "../../deploy/kubernetes/rbac.yaml"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, sa.Name); err != nil {
		t.Fatal(err)
	}
	checkRBAC(t, ctx, cp.Config(sa.Name))

	nodes := admin.CoreV1().Nodes()
	addNode := func(name, ip string) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
		if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	editNode := func(name string, status bool, edit func(*corev1.Node)) {
		t.Helper()
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(n)
		if status {
			_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		} else {
			_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	setIP := func(name, ip string) {
		editNode(name, true, func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
		})
	}
	// The kubelet registers h1 and h2; no podCIDR yet.
	addNode("h1", "198.51.100.1")
	addNode("h2", "198.51.100.2")

	cfg, err := config.Parse(fmt.Appendf(nil, `nodeName: h1
bgp: {asn: 64512}
networks:
  - {name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1}
stateDir: %s
api: {socket: %s}
metrics: {listen: "127.0.0.1:%d"}
kubernetes: {enabled: true, kubeconfig: %s}
`, filepath.Join(dir, "state"), filepath.Join(dir, "api.sock"), bgptest.FreePort(t, "127.0.0.1"), kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the one config of every node: %v", err)
	}
	dp := overlaytest.New()
	sp := bgptest.NewFake(t)
	sp.RequireAdvertisedBeforePeers()
	actx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- RunWith(actx, cfg, bgptest.Logger(t), Parts{
			Dataplane:  dp,
			NewSpeaker: func(context.Context, bgp.Config) (Speaker, error) { return sp, nil },
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
		if v := dp.Violations(); len(v) > 0 {
			t.Errorf("kernel invariants broken:\n%s", strings.Join(v, "\n"))
		}
	})

	base := "http://" + cfg.Metrics.Listen
	readyz := func() (int, string) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bgptest.WaitFor(t, "readyz saying the agent waits for the podCIDR", 30*time.Second, func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "not ready: node h1 has no spec.podCIDRs yet")
	})
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz while waiting: %v %v", resp, err)
	}
	if len(sp.Configured()) != 0 {
		t.Fatalf("peers configured before the podCIDR: %v", sp.Configured())
	}

	// The controller-manager comes up and assigns the podCIDRs: the agent
	// carries on.
	if err := cp.SpawnControllerManager(bin, "--controllers=nodeipam", "--allocate-node-cidrs=true",
		"--cluster-cidr=10.244.0.0/16", "--node-cidr-mask-size=24"); err != nil {
		t.Fatal(err)
	}
	var block string
	bgptest.WaitFor(t, "h1's podCIDR from the controller-manager", 60*time.Second, func() bool {
		n, err := nodes.Get(ctx, "h1", metav1.GetOptions{})
		if err == nil && len(n.Spec.PodCIDRs) > 0 {
			block = n.Spec.PodCIDRs[0]
		}
		return block != ""
	})
	api := localapi.NewClient(cfg.API.Socket)
	bgptest.WaitFor(t, "the agent running", 30*time.Second, func() bool { _, err := api.Status(ctx); return err == nil })
	if st, _ := api.Status(ctx); st.VTEP != "198.51.100.1" {
		t.Errorf("VTEP %s, want the Node's InternalIP 198.51.100.1", st.VTEP)
	}
	bgptest.WaitFor(t, "our block from the podCIDR advertised", 10*time.Second, func() bool { return slices.Contains(sp.Table(), block) })

	wantPeers := func(what string, want ...string) {
		t.Helper()
		bgptest.WaitFor(t, what, 30*time.Second, func() bool {
			ps, err := api.Peers(ctx)
			if err != nil {
				return false
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Address+"/"+p.Source)
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		})
	}
	wantPeers("h2 as a peer from kubernetes", "198.51.100.2/kubernetes")
	sp.EOR(bgp.FamilyEVPN, "198.51.100.2")
	sp.EOR(bgp.FamilyIPv4, "198.51.100.2")
	bgptest.WaitFor(t, "readyz ok", 30*time.Second, func() bool { code, _ := readyz(); return code == http.StatusOK })

	addNode("h3", "198.51.100.3")
	wantPeers("added node h3", "198.51.100.2/kubernetes", "198.51.100.3/kubernetes")
	if err := nodes.Delete(ctx, "h2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPeers("removed node h2", "198.51.100.3/kubernetes")
	setIP("h3", "198.51.100.33")
	wantPeers("h3's new InternalIP", "198.51.100.33/kubernetes")

	// Our own InternalIP changes: the agent ends, for the DaemonSet to
	// restart it on the new address.
	setIP("h1", "198.51.100.11")
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "node h1 InternalIP changed from 198.51.100.1 to 198.51.100.11") {
			t.Errorf("agent ended with %v, want the InternalIP change", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent runs on after its InternalIP changed")
	}
}

// checkRBAC: the service account of rbac.yaml reads nodes and nothing
// else, and writes nothing.
func checkRBAC(t *testing.T, ctx context.Context, rc *rest.Config) {
	t.Helper()
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list nodes as vxbgp: %v", err)
	}
	forbidden := map[string]error{}
	_, forbidden["list pods"] = c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	_, forbidden["list secrets"] = c.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	_, forbidden["create nodes"] = c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	forbidden["delete nodes"] = c.CoreV1().Nodes().Delete(ctx, "x", metav1.DeleteOptions{})
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as vxbgp: %v, want forbidden", what, err)
		}
	}
}
