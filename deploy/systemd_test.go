package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitPath = "systemd/vxbgpd.service"

// unit is a systemd unit file: section -> key -> its assignments in order
// (an empty one resets a list, as systemd reads it).
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not KEY=VALUE in a section", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the value that counts for a single-valued key.
func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// list is a list-valued key's words after the last reset.
func (u unit) list(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		if v == "" {
			out = nil
			continue
		}
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// TestSystemdUnit: the unit is Type=notify with a watchdog, ordered (only
// ordered) before the container runtimes and the kubelet, and hardened
// down to what the agent needs (e2e TestSystemdUnitPrivileges runs the
// agent with what can be emulated without systemd as PID 1).
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t, unitPath)
	want := map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateMounts":           "yes",
		"PrivateDevices":          "yes",
		"DevicePolicy":            "closed",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"ProtectProc":             "invisible",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"SystemCallArchitectures": "native",
		"SystemCallFilter":        "@system-service",
		"UMask":                   "0077",
	}
	for k, v := range want {
		if got := u.last("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	// /proc/sys must stay writable: routed mode turns forwarding on.
	for _, k := range []string{"ProtectKernelTunables", "ProcSubset", "PrivateNetwork", "PrivateUsers"} {
		if v := u.last("Service", k); v != "" && v != "no" && v != "all" {
			t.Errorf("[Service] %s=%s would break the agent", k, v)
		}
	}
	wd, err := time.ParseDuration(u.last("Service", "WatchdogSec"))
	if err != nil || wd < 10*time.Second || wd > time.Minute {
		t.Errorf("[Service] WatchdogSec=%q (%v): want 10s..1m", u.last("Service", "WatchdogSec"), err)
	}
	for _, set := range []struct{ key, want string }{
		{"CapabilityBoundingSet", "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW"},
		{"AmbientCapabilities", "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_NETLINK AF_PACKET AF_UNIX"},
	} {
		got := u.list("Service", set.key)
		slices.Sort(got)
		if strings.Join(got, " ") != set.want {
			t.Errorf("[Service] %s=%v, want exactly %s", set.key, got, set.want)
		}
	}
	before := u.list("Unit", "Before")
	for _, s := range []string{"containerd.service", "crio.service", "kubelet.service"} {
		if !slices.Contains(before, s) {
			t.Errorf("[Unit] Before=%v lacks %s", before, s)
		}
		for _, dep := range []string{"Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds"} {
			if slices.Contains(u.list("Unit", dep), s) {
				t.Errorf("[Unit] %s= names %s: the agent must only be ordered before it", dep, s)
			}
		}
	}
	if !slices.Contains(u.list("Unit", "After"), "network-online.target") {
		t.Errorf("[Unit] After=%v lacks network-online.target", u.list("Unit", "After"))
	}
	if got := u.list("Install", "WantedBy"); !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%v", got)
	}
}

// TestSystemdUnitSecurityScore: systemd-analyze security rates the unit's
// exposure (0 safe .. 10 unsafe) without a running systemd. Before the
// hardening it was 6.9 MEDIUM.
func TestSystemdUnitSecurityScore(t *testing.T) {
	_, err := exec.LookPath("systemd-analyze")
	need(t, err == nil, "systemd-analyze (Debian package systemd) is not installed")
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unitPath).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for vxbgpd.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security --offline=true %s: %.1f %s", unitPath, score, m[2])
	if score > 3.0 {
		t.Errorf("exposure %.1f %s, want at most 3.0 (it was 2.6 OK when this test was written):\n%s", score, m[2], out)
	}
}
