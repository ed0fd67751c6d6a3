package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// TestLogFile runs the plugin binary with logFile set: an ADD that fails
// (its network's bridge is missing), one that succeeds, one refused for a
// newer networks.json, and a DEL, each leaving its lines in the file, which is
// created with its directory; a log file that cannot be created does not
// fail the ADD.
func TestLogFile(t *testing.T) {
	e := newTestEnv(t)
	file := filepath.Join(t.TempDir(), "log", "cni.log")
	conf := func(extra map[string]any) string {
		m := map[string]any{"logFile": file, "logFormat": "json", "logLevel": "debug"}
		for k, v := range extra {
			m[k] = v
		}
		return e.conf("1.1.0", m)
	}

	_, cniErr := e.run(t, pluginRun{cmd: "ADD", containerID: "ctr-fail", netns: e.podPath, conf: conf(map[string]any{"network": "nobridge"})})
	if cniErr == nil || cniErr.Code != types.ErrTryAgainLater {
		t.Fatalf("ADD to a network without its bridge: %v, want code 11", cniErr)
	}
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "ctr-ok", netns: e.podPath, conf: conf(nil)})
	e.mustRun(t, pluginRun{cmd: "DEL", containerID: "ctr-ok", netns: e.podPath, conf: conf(nil)})

	// A newer networks.json: code 6, and the file says why.
	nets := filepath.Join(e.stateDir, "networks.json")
	old, err := os.ReadFile(nets)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nets, []byte(`{"version": 2, "networks": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, cniErr = e.run(t, pluginRun{cmd: "ADD", containerID: "ctr-newer", ifName: "eth1", netns: e.podPath, conf: conf(nil)})
	newerMsg := nets + ": format version 2 is newer than this vxbgp release supports (1)"
	if cniErr == nil || cniErr.Code != types.ErrDecodingFailure || !strings.HasPrefix(cniErr.Msg, newerMsg) {
		t.Errorf("ADD with a newer networks.json: %+v, want code 6: %s...", cniErr, newerMsg)
	}
	if err := os.WriteFile(nets, old, 0o644); err != nil {
		t.Fatal(err)
	}

	type line struct {
		Time, Level, Msg, Verb, ContainerID, Netns, IfName, Err string
		Code                                                    int
		IP                                                      []string
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got []line
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("not a JSON line: %s", s)
		}
		if l.Time == "" || (l.Verb != "ADD" && l.Verb != "DEL") || l.Netns != e.podPath || l.IfName == "" || l.ContainerID == "" {
			t.Errorf("line without its time, verb, netns, interface or container: %s", s)
		}
		got = append(got, l)
	}
	has := func(what string, match func(l line) bool) {
		t.Helper()
		for _, l := range got {
			if match(l) {
				return
			}
		}
		t.Errorf("no line for %s in:\n%s", what, b)
	}
	has("the failed ADD", func(l line) bool {
		return l.ContainerID == "ctr-fail" && l.Level == "ERROR" && l.Msg == "failed" && l.Code == 11 && strings.Contains(l.Err, "bridge vxbr999")
	})
	has("the attached pod", func(l line) bool {
		return l.ContainerID == "ctr-ok" && l.Msg == "attached" && len(l.IP) == 1 && strings.HasPrefix(l.IP[0], "10.244.1.")
	})
	has("the ADD done", func(l line) bool { return l.ContainerID == "ctr-ok" && l.Level == "INFO" && l.Msg == "done" })
	has("the refused ADD", func(l line) bool {
		return l.ContainerID == "ctr-newer" && l.IfName == "eth1" && l.Code == 6 && strings.HasPrefix(l.Err, newerMsg)
	})

	has("the DEL done", func(l line) bool { return l.ContainerID == "ctr-ok" && l.Verb == "DEL" && l.Msg == "done" })

	// /proc takes no new directory: the ADD goes on regardless.
	bad := e.conf("1.1.0", map[string]any{"logFile": "/proc/vxbgp-test/cni.log"})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "ctr-nolog", netns: e.podPath, conf: bad})
	e.mustRun(t, pluginRun{cmd: "DEL", containerID: "ctr-nolog", netns: e.podPath, conf: bad})
}
