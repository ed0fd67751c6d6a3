// Where the privileges tests read what vxbgpd may do: the DaemonSet's
// vxbgpd container and the systemd unit, each turned into the privileges
// (capabilities, mounts, seccomp filter) its runtime would give it.

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vxbgp/vxbgp/internal/caps"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// daemonSetPrivileges reads the vxbgpd container of
// deploy/kubernetes/daemonset.yaml and returns what containerd would run
// it with, the capabilities containerd 1.6 computes from add and drop.
func daemonSetPrivileges(t *testing.T) privileges {
	t.Helper()
	root, err := moduleRoot()
	must(t, err)
	path := filepath.Join(root, "deploy", "kubernetes", "daemonset.yaml")
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var ctr *k8sContainer
	dec := yaml.NewDecoder(f)
	for ctr == nil {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []k8sContainer `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			t.Fatalf("%s: no DaemonSet with a container vxbgpd", path)
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc.Kind != "DaemonSet" {
			continue
		}
		for i, c := range doc.Spec.Template.Spec.Containers {
			if c.Name == "vxbgpd" {
				ctr = &doc.Spec.Template.Spec.Containers[i]
			}
		}
	}
	sc := ctr.SecurityContext
	if sc.Privileged != nil && *sc.Privileged {
		t.Fatalf("%s: the vxbgpd container is privileged; this test checks that it works without", path)
	}
	set, err := caps.Container(sc.Capabilities.Add, sc.Capabilities.Drop)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == "/proc" || strings.HasPrefix(m.MountPath, "/proc/") {
			// runc 1.1 (checkProcMount): "cannot be mounted because it is inside /proc".
			t.Fatalf("%s: volume %s is mounted at %s, inside /proc: runc refuses to start such a container", path, m.Name, m.MountPath)
		}
	}
	roRoot := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	nnp := sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	t.Logf("%s: container vxbgpd: capabilities add %v drop %v -> %v (CapEff %s); no_new_privs %v; readOnlyRootFilesystem %v",
		path, sc.Capabilities.Add, sc.Capabilities.Drop, set.Names(), set, nnp, roRoot)
	return privileges{
		caps:      set,
		procSysRO: true,
		// Kubernetes sets no_new_privs when allowPrivilegeEscalation is
		// false; unset means true.
		nnp: nnp,
		mounts: func(h *lab.Host) []string {
			var m []string
			if roRoot {
				// The host's work dir stands for the writable hostPath
				// volumes (state dir, API socket); a container's /dev and
				// /proc are its own and writable.
				m = append(m, "-ro", "/", "-rw", h.Dir, "-rw", "/dev", "-rw", "/proc")
			} else {
				m = append(m, "-ro", "/sys")
			}
			for _, p := range runtimeReadonly {
				if _, err := os.Stat(p); err == nil {
					m = append(m, "-ro", p)
				}
			}
			return m
		},
	}
}

// unitPrivileges reads deploy/systemd/vxbgpd.service and returns what
// systemd would run vxbgpd with: the service runs as root, so its
// capabilities are CapabilityBoundingSet; ProtectSystem=, ProtectHome=,
// ProtectKernelTunables= and ReadWritePaths= become mounts;
// SystemCallFilter=, RestrictAddressFamilies=, RestrictNamespaces= and
// MemoryDenyWriteExecute= a seccomp filter; Type=notify a notify socket.
// Not emulated (checked only by deploy's TestSystemdUnit): PrivateTmp=,
// PrivateDevices=, ProtectKernelModules=, ProtectKernelLogs=,
// ProtectControlGroups=, ProtectClock=, ProtectHostname=, ProtectProc=,
// LockPersonality=, RestrictRealtime=, RestrictSUIDSGID=, UMask=.
func unitPrivileges(t *testing.T) privileges {
	t.Helper()
	root, err := moduleRoot()
	must(t, err)
	path := filepath.Join(root, "deploy", "systemd", "vxbgpd.service")
	b, err := os.ReadFile(path)
	must(t, err)
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if v == "" { // an empty assignment resets a list
			keys[k] = nil
			continue
		}
		keys[k] = append(keys[k], strings.Fields(v)...)
	}
	last := func(k string) string {
		if v := keys[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if u := last("User"); u != "" && u != "root" {
		t.Fatalf("%s: User=%s: this test runs the agent as root", path, u)
	}
	for _, c := range keys["CapabilityBoundingSet"] {
		if strings.HasPrefix(c, "~") {
			t.Fatalf("%s: CapabilityBoundingSet=~...: an inverted set is not supported here", path)
		}
	}
	if keys["CapabilityBoundingSet"] == nil {
		t.Fatalf("%s: no CapabilityBoundingSet", path)
	}
	set, err := caps.Parse(keys["CapabilityBoundingSet"])
	if err != nil {
		t.Fatalf("%s: CapabilityBoundingSet: %v", path, err)
	}
	amb, err := caps.Parse(keys["AmbientCapabilities"])
	if err != nil {
		t.Fatalf("%s: AmbientCapabilities: %v", path, err)
	}
	if amb&^set != 0 {
		t.Errorf("%s: AmbientCapabilities %v outside CapabilityBoundingSet", path, (amb &^ set).Names())
	}
	yes := func(k string) bool {
		switch last(k) {
		case "yes", "true", "on", "1":
			return true
		}
		return false
	}
	protectSystem, protectHome := last("ProtectSystem"), last("ProtectHome")
	tunables := yes("ProtectKernelTunables")
	var rwPaths []string
	for _, p := range keys["ReadWritePaths"] {
		p = strings.TrimPrefix(p, "-")
		if _, err := os.Stat(p); err == nil {
			rwPaths = append(rwPaths, p)
		}
	}
	t.Logf("%s: CapabilityBoundingSet %v (CapEff %s); NoNewPrivileges %v; ProtectSystem %q; ProtectHome %q; ProtectKernelTunables %v",
		path, set.Names(), set, yes("NoNewPrivileges"), protectSystem, protectHome, tunables)
	return privileges{
		caps:      set,
		nnp:       yes("NoNewPrivileges"),
		procSysRO: tunables,
		seccomp:   unitSeccomp(t, keys),
		notify:    last("Type") == "notify",
		mounts: func(h *lab.Host) []string {
			var m []string
			existing := func(op string, paths ...string) {
				for _, p := range paths {
					if _, err := os.Stat(p); err == nil {
						m = append(m, op, p)
					}
				}
			}
			switch protectSystem {
			case "strict":
				// All but the API file systems; StateDirectory= and
				// RuntimeDirectory= (here the host's work dir: state dir
				// and API socket) and ReadWritePaths= stay writable.
				m = append(m, "-ro", "/", "-rw", "/dev", "-rw", "/proc", "-rw", "/sys", "-rw", h.Dir)
			case "full":
				existing("-ro", "/usr", "/boot", "/efi", "/etc")
			case "yes", "true":
				existing("-ro", "/usr", "/boot", "/efi")
			}
			for _, p := range rwPaths {
				m = append(m, "-rw", p)
			}
			switch protectHome {
			case "yes", "true":
				existing("-hide", "/home", "/root", "/run/user")
			case "read-only":
				existing("-ro", "/home", "/root", "/run/user")
			}
			if tunables {
				m = append(m, "-ro", "/proc/sys", "-ro", "/sys")
			}
			return m
		},
	}
}
