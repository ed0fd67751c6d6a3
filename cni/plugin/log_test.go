package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/internal/stateformat"
	"github.com/vxbgp/vxbgp/ipam"
)

// TestParseLogConf: the log keys are checked like the others: code 7
// naming the key.
func TestParseLogConf(t *testing.T) {
	c, err := ParseConf([]byte(`{"cniVersion":"1.1.0","logFile":"/var/log/vxbgp/cni.log","logLevel":"debug","logFormat":"json"}`))
	if err != nil || c.LogFile != "/var/log/vxbgp/cni.log" || c.LogLevel != "debug" || c.LogFormat != "json" {
		t.Fatalf("ParseConf = %+v, %v", c, err)
	}
	for in, want := range map[string]string{
		`{"logFile":"cni.log"}`:  `network config key "logFile": "cni.log": must be an absolute path`,
		`{"logFile":5}`:          `network config key "logFile": got a JSON number, want a string`,
		`{"logLevel":"verbose"}`: `network config key "logLevel": must be debug, info, warn or error, got "verbose"`,
		`{"logFormat":"xml"}`:    `network config key "logFormat": must be text or json, got "xml"`,
	} {
		_, err := ParseConf([]byte(in))
		if err == nil || err.Error() != want || Code(err) != types.ErrInvalidNetworkConfig {
			t.Errorf("ParseConf(%s) = %v (code %d), want code 7: %s", in, err, Code(err), want)
		}
	}
}

// TestOpenLog: with logFile the verb's lines and outcome are appended to
// it (its directory created), each naming verb, container, netns and
// interface, in text or JSON; warnings still reach stderr. A file that
// cannot be opened is a warning on stderr, nothing more.
func TestOpenLog(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "log", "vxbgp", "cni.log")
	args := func(extra string) *skel.CmdArgs {
		return &skel.CmdArgs{ContainerID: "ctr1", Netns: "/run/netns/p1", IfName: "eth0",
			StdinData: []byte(`{"cniVersion":"1.1.0","logFile":"` + file + `"` + extra + `}`)}
	}
	var stderr bytes.Buffer
	l := openLog(&stderr, "ADD", args(""))
	l.Debug("not at the default level")
	l.Info("allocated", "ip", "10.244.1.5")
	l.Warn("agent unreachable")
	l.done(withCode(types.ErrTryAgainLater, errors.New("bridge vxbr100 missing")))

	l = openLog(&stderr, "DEL", args(`,"logFormat":"json","logLevel":"debug"`))
	l.Debug("looked up")
	l.done(nil)

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(string(b))
	ids := "containerID=ctr1 netns=/run/netns/p1 ifName=eth0"
	want := []string{
		`level=INFO msg=allocated verb=ADD ` + ids + ` ip=10.244.1.5`,
		`level=WARN msg="agent unreachable" verb=ADD ` + ids,
		`level=ERROR msg=failed verb=ADD ` + ids + ` code=11 err="bridge vxbr100 missing"`,
	}
	if len(got) != 5 {
		t.Fatalf("log file has %d lines, want 5:\n%s", len(got), b)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], "time=") || !strings.HasSuffix(got[i], w) {
			t.Errorf("line %d: %s\nwant time=... %s", i+1, got[i], w)
		}
	}
	for i, msg := range []string{"looked up", "done"} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(got[3+i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %s", 4+i, got[3+i])
		}
		if rec["msg"] != msg || rec["verb"] != "DEL" || rec["containerID"] != "ctr1" || rec["netns"] != "/run/netns/p1" || rec["ifName"] != "eth0" {
			t.Errorf("line %d: %s", 4+i, got[3+i])
		}
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, `level=WARN msg="agent unreachable" plugin=vxbgp-cni verb=ADD `+ids) {
		t.Errorf("stderr: want the one warning as today, with the attachment:\n%s", s)
	}

	// The log file's place is a directory: the verb goes on.
	stderr.Reset()
	if err := os.MkdirAll(filepath.Join(dir, "isadir"), 0o755); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "isadir")
	l = openLog(&stderr, "ADD", args(""))
	l.Info("attached")
	l.done(nil)
	if s := stderr.String(); !strings.Contains(s, `msg="log file not opened; logging warnings to stderr only"`) || !strings.Contains(s, "is a directory") {
		t.Errorf("stderr: %s", s)
	}
}

// TestNewerStateCode: a state file in a newer format is code 6 (failed
// to decode content) with the message naming it, not 7: the config is
// not at fault. STATUS keeps its 50.
func TestNewerStateCode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ipam.NetworksFile)
	if err := os.WriteFile(path, []byte(`{"version": 2, "networks": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := (&NetConf{StateDir: dir}).LookupNetwork()
	want := path + ": format version 2 is newer than this vxbgp release supports (1); upgrade vxbgpd and vxbgp-cni, or restore the file"
	if err == nil || err.Error() != want || Code(err) != types.ErrDecodingFailure {
		t.Errorf("LookupNetwork = %v (code %d)\nwant code 6: %s", err, Code(err), want)
	}
	rec := fmt.Errorf("allocate addresses for container c interface eth0: %w", &stateformat.NewerError{File: "/var/lib/vxbgp/ipam/pods/10.244.1.2", Version: 2, Supported: 1})
	if Code(rec) != types.ErrDecodingFailure {
		t.Errorf("a newer record: code %d, want 6", Code(rec))
	}
	if st := withCode(types.ErrPluginNotAvailable, fmt.Errorf("not ready: %w", err)); Code(st) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS: code %d, want 50", Code(st))
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
