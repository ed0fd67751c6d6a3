package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vxbgp/vxbgp/control/config"
)

const manifestDir = "kubernetes"

// examplesDir holds objects the operator creates (the Secret): decoded and
// checked like the rest, but not applied by `kubectl apply -f kubernetes/`.
const examplesDir = "kubernetes/examples"

// manifest is one decoded object and where it came from.
type manifest struct {
	file    string // relative to deploy/
	obj     runtime.Object
	example bool // under examplesDir: documents an operator-created object
}

// strictDecoder is the apimachinery serializer kubectl's server-side
// validation amounts to: unknown and duplicate fields are errors.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// decodeAll decodes every document of every .yaml under dir strictly.
func decodeAll(t *testing.T, dir string) []manifest {
	t.Helper()
	dec := strictDecoder(t)
	var out []manifest
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: document %d: %v", p, i, err)
				break
			}
			if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
				continue // comments only
			}
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s: document %d: %v", p, i, err)
				continue
			}
			out = append(out, manifest{file: p, obj: obj, example: strings.HasPrefix(p, examplesDir+"/")})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStrictDecoding shows the decoder refuses what kubectl would: an
// unknown field, a duplicate key, a kind it does not know.
func TestStrictDecoding(t *testing.T) {
	dec := strictDecoder(t)
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\nextra: 1\n",
		"typo in spec":  "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      contaners: []\n",
		"duplicate key": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n",
		"unknown kind":  "apiVersion: v1\nkind: Sekret\nmetadata: {name: x}\n",
		"wrong type":    "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: 1}\n",
	} {
		if _, _, err := dec.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// TestManifests checks that the objects of deploy/kubernetes agree with
// each other, with the image make image builds and with the agent's config.
func TestManifests(t *testing.T) {
	all := decodeAll(t, manifestDir)
	if t.Failed() {
		t.FailNow()
	}
	byKind := map[string][]manifest{}
	for _, m := range all {
		kind := m.obj.GetObjectKind().GroupVersionKind().Kind
		byKind[kind] = append(byKind[kind], m)
	}
	// find returns the applied (not example) object of that kind, name and
	// namespace, or the example documenting it.
	find := func(kind, ns, name string) (applied, example *manifest) {
		for i, m := range byKind[kind] {
			meta := m.obj.(metav1.Object)
			if meta.GetName() == name && meta.GetNamespace() == ns {
				if m.example {
					example = &byKind[kind][i]
				} else {
					applied = &byKind[kind][i]
				}
			}
		}
		return applied, example
	}
	if n := len(byKind["DaemonSet"]); n != 1 {
		t.Fatalf("%d DaemonSets, want 1", n)
	}
	ds := byKind["DaemonSet"][0].obj.(*appsv1.DaemonSet)
	ns := ds.Namespace
	pod := ds.Spec.Template.Spec

	t.Run("selector", func(t *testing.T) {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Fatalf("selector %v: %v (empty selects every pod)", ds.Spec.Selector, err)
		}
		if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
			t.Errorf("selector %s does not match the template's labels %v", sel, ds.Spec.Template.Labels)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		declared := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			if _, dup := declared[v.Name]; dup {
				t.Errorf("volume %s declared twice", v.Name)
			}
			declared[v.Name] = v
		}
		used := map[string]bool{}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			paths := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if _, ok := declared[m.Name]; !ok {
					t.Errorf("container %s mounts volume %s, which is not declared", c.Name, m.Name)
				}
				if paths[m.MountPath] {
					t.Errorf("container %s mounts two volumes at %s", c.Name, m.MountPath)
				}
				paths[m.MountPath] = true
				used[m.Name] = true
			}
		}
		for name, v := range declared {
			if !used[name] {
				t.Errorf("volume %s is declared but no container mounts it", name)
			}
			switch {
			case v.ConfigMap != nil:
				if applied, _ := find("ConfigMap", ns, v.ConfigMap.Name); applied == nil {
					t.Errorf("volume %s: ConfigMap %s/%s is not in %s", name, ns, v.ConfigMap.Name, manifestDir)
				}
			case v.Secret != nil:
				// The operator creates the Secret from files; the volume must
				// then be optional and the example must document it.
				applied, example := find("Secret", ns, v.Secret.SecretName)
				if applied != nil {
					t.Errorf("volume %s: Secret %s is in %s, where kubectl apply would overwrite the operator's: keep it under %s", name, v.Secret.SecretName, applied.file, examplesDir)
				}
				if example == nil {
					t.Errorf("volume %s: Secret %s/%s has no example under %s", name, ns, v.Secret.SecretName, examplesDir)
				}
				if v.Secret.Optional == nil || !*v.Secret.Optional {
					t.Errorf("volume %s: Secret %s not optional: a cluster without secrets would not start", name, v.Secret.SecretName)
				}
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 {
					t.Errorf("volume %s: defaultMode %v, want 0400", name, v.Secret.DefaultMode)
				}
			}
		}
	})

	t.Run("serviceAccount", func(t *testing.T) {
		applied, _ := find("ServiceAccount", ns, pod.ServiceAccountName)
		if pod.ServiceAccountName == "" || applied == nil {
			t.Fatalf("serviceAccountName %q: no such ServiceAccount in %s/%s", pod.ServiceAccountName, manifestDir, ns)
		}
		bound := false
		for _, m := range byKind["ClusterRoleBinding"] {
			b := m.obj.(*rbacv1.ClusterRoleBinding)
			if role, _ := find("ClusterRole", "", b.RoleRef.Name); b.RoleRef.Kind != "ClusterRole" || role == nil {
				t.Errorf("ClusterRoleBinding %s: roleRef %s %s is not in %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, manifestDir)
			}
			for _, s := range b.Subjects {
				if s.Kind == "ServiceAccount" && s.Name == pod.ServiceAccountName && s.Namespace == ns {
					bound = true
				}
			}
		}
		if !bound {
			t.Errorf("no ClusterRoleBinding binds ServiceAccount %s/%s", ns, pod.ServiceAccountName)
		}
	})

	t.Run("image", func(t *testing.T) {
		want := imageRef(t)
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			if c.Image != want {
				t.Errorf("container %s: image %s, want %s (VERSION; make image builds it)", c.Name, c.Image, want)
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("container %s: imagePullPolicy %q, want IfNotPresent (the image is imported, not pulled)", c.Name, c.ImagePullPolicy)
			}
			// The image is FROM scratch: only its own binaries can run.
			if len(c.Command) == 0 || !slices.Contains([]string{"/usr/local/bin/vxbgpd", "/usr/local/bin/vxbgpctl"}, c.Command[0]) {
				t.Errorf("container %s: command %v: the image has only /usr/local/bin/{vxbgpd,vxbgpctl,vxbgp-cni}", c.Name, c.Command)
			}
		}
	})

	t.Run("installCNI", func(t *testing.T) {
		i := slices.IndexFunc(pod.InitContainers, func(c corev1.Container) bool { return c.Name == "install-cni" })
		if i < 0 {
			t.Fatal("no install-cni init container")
		}
		c := pod.InitContainers[i]
		dir := flagValue(c.Command, "--bin-dir")
		if !slices.Equal(c.Command[:2], []string{"/usr/local/bin/vxbgpctl", "install-cni"}) || dir == "" {
			t.Fatalf("install-cni command %v: want vxbgpctl install-cni --bin-dir DIR", c.Command)
		}
		if hp := hostPathAt(pod, c, dir); hp != "/opt/cni/bin" {
			t.Errorf("install-cni --bin-dir %s is hostPath %q, want /opt/cni/bin", dir, hp)
		}
	})

	t.Run("agent", func(t *testing.T) {
		c, ok := container(pod, "vxbgpd")
		if !ok {
			t.Fatal("no vxbgpd container")
		}
		// vxbgpd writes the conflist (cni.conflistDest) into the host's conf dir.
		if hp := hostPathAt(pod, c, "/host/etc/cni/net.d"); hp != "/etc/cni/net.d" {
			t.Errorf("vxbgpd: /host/etc/cni/net.d is hostPath %q, want /etc/cni/net.d", hp)
		}
		for _, p := range []string{"/var/lib/vxbgp", "/run/vxbgp"} {
			if hp := hostPathAt(pod, c, p); hp != p {
				t.Errorf("vxbgpd: %s is hostPath %q, want %s (the CNI plugin on the host reads it)", p, hp, p)
			}
		}
		if m, ok := mountAt(c, "/etc/vxbgp/secrets"); !ok || !m.ReadOnly || volume(pod, m.Name).Secret == nil {
			t.Errorf("vxbgpd: /etc/vxbgp/secrets: want the Secret volume, read-only")
		}
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
		}) {
			t.Error("vxbgpd: no NODE_NAME from spec.nodeName")
		}
	})

	t.Run("config", func(t *testing.T) {
		c, ok := container(pod, "vxbgpd")
		if !ok {
			t.Fatal("no vxbgpd container")
		}
		cfgPath := flagValue(c.Command, "--config")
		m, ok := mountAt(c, path.Dir(cfgPath))
		if !ok || volume(pod, m.Name).ConfigMap == nil {
			t.Fatalf("vxbgpd --config %s: not in a ConfigMap volume", cfgPath)
		}
		cmRef, _ := find("ConfigMap", ns, volume(pod, m.Name).ConfigMap.Name)
		if cmRef == nil {
			t.Fatalf("ConfigMap %s missing", volume(pod, m.Name).ConfigMap.Name)
		}
		cm := cmRef.obj.(*corev1.ConfigMap)
		var configs int
		for key, data := range cm.Data {
			if !strings.HasSuffix(key, ".yaml") {
				continue
			}
			configs++
			cfg, err := config.Parse([]byte(data))
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Errorf("ConfigMap %s key %s: %v", cm.Name, key, err)
				continue
			}
			for i, p := range cfg.BGP.Peers {
				if p.Password != "" {
					t.Errorf("ConfigMap %s key %s: bgp.peers[%d].password set: passwords go in the Secret (passwordFile)", cm.Name, key, i)
				}
			}
		}
		if configs == 0 {
			t.Errorf("ConfigMap %s holds no vxbgpd config (*.yaml key)", cm.Name)
		}
		data, ok := cm.Data[path.Base(cfgPath)]
		if !ok {
			t.Fatalf("vxbgpd --config %s, but ConfigMap %s has no key %s (keys %v)",
				cfgPath, cm.Name, path.Base(cfgPath), slices.Sorted(maps.Keys(cm.Data)))
		}
		// The agent writes the ConfigMap's conflist, from where the volume
		// puts it, into the host's conf dir (mounted above).
		cfg, err := config.Parse([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if want := path.Join(m.MountPath, "10-vxbgp.conflist"); cfg.CNI.ConflistSource != want {
			t.Errorf("cni.conflistSource %q, want %q (the ConfigMap's conflist)", cfg.CNI.ConflistSource, want)
		}
		if want := "/host/etc/cni/net.d/10-vxbgp.conflist"; cfg.CNI.ConflistDest != want {
			t.Errorf("cni.conflistDest %q, want %q (the host's /etc/cni/net.d)", cfg.CNI.ConflistDest, want)
		}
		if !cfg.Kubernetes.Enabled {
			t.Error("the ConfigMap's config serves every node only with kubernetes.enabled")
		}
		t.Run("metrics", func(t *testing.T) { metricsExposure(t, ds, cm, path.Base(cfgPath)) })
		const conflistKey = "10-vxbgp.conflist"
		if raw, ok := cm.Data[conflistKey]; !ok {
			t.Errorf("ConfigMap %s: no %s (cni.conflistSource)", cm.Name, conflistKey)
		} else if cl, err := libcni.ConfListFromBytes([]byte(raw)); err != nil {
			t.Errorf("ConfigMap %s key %s: %v", cm.Name, conflistKey, err)
		} else if len(cl.Plugins) == 0 || cl.Plugins[0].Network.Type != "vxbgp-cni" {
			t.Errorf("ConfigMap %s key %s: first plugin is not vxbgp-cni", cm.Name, conflistKey)
		}
	})
}

// metricsExposure checks that Prometheus can reach the agent's metrics on
// the node: metrics.listen is not loopback, its port is the container's
// port named metrics (the node's own, with hostNetwork), and the scrape
// annotations and the probes name the same port.
func metricsExposure(t *testing.T, ds *appsv1.DaemonSet, cm *corev1.ConfigMap, cfgKey string) {
	pod := ds.Spec.Template.Spec
	cfg, err := config.Parse([]byte(cm.Data[cfgKey]))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", cfg.Metrics.Listen, err)
	}
	if ip, err := netip.ParseAddr(host); host == "localhost" || err == nil && ip.IsLoopback() {
		t.Errorf("metrics.listen %q: loopback, Prometheus cannot reach it from another host", cfg.Metrics.Listen)
	}
	if !pod.HostNetwork {
		t.Error("the DaemonSet is not hostNetwork: the metrics port is not the node's")
	}
	c, _ := container(pod, "vxbgpd")
	i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
	if i < 0 {
		t.Fatal("vxbgpd declares no port named metrics")
	}
	if got := strconv.Itoa(int(c.Ports[i].ContainerPort)); got != port || c.Ports[i].Protocol != corev1.ProtocolTCP {
		t.Errorf("port metrics is %s/%s, metrics.listen %q", got, c.Ports[i].Protocol, cfg.Metrics.Listen)
	}
	ann := ds.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want scrape true, port %s, path /metrics", ann, port)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != port && p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v: not on the metrics port %s", name, p, port)
		}
	}
}
