package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/version"
)

func TestVersion(t *testing.T) {
	sock := serveFake(t, full)
	missing := filepath.Join(t.TempDir(), "missing.sock")
	client := version.String()
	for _, tc := range []struct {
		name                string
		socket              string
		args                []string
		wantStdout, wantErr string
	}{
		{"--version: ours only", missing, []string{"--version"}, "vxbgpctl " + client + "\n", ""},
		{"the agent's too", sock, []string{"version"}, "Client Version:  " + client + "\nAgent Version:   v0.1.0\n", ""},
		{"no agent: ours, and why not its", missing, []string{"version"}, "Client Version:  " + client + "\n",
			"vxbgpctl: agent version unknown: cannot reach vxbgpd at " + missing + ": is it running?\n"},
		{"--client asks no agent", missing, []string{"version", "--client"}, "Client Version:  " + client + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := ctl(tc.socket, tc.args...)
			if code != 0 || stdout != tc.wantStdout || stderr != tc.wantErr {
				t.Errorf("exit %d stdout %q stderr %q; want 0, %q, %q", code, stdout, stderr, tc.wantStdout, tc.wantErr)
			}
		})
	}
	for _, tc := range []struct {
		socket, agent string
	}{{sock, "v0.1.0"}, {missing, ""}} {
		code, stdout, _ := ctl(tc.socket, "version", "-o", "json")
		var v versionInfo
		if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil {
			t.Fatalf("version -o json: exit %d, %v: %q", code, err, stdout)
		}
		if v.ClientVersion != client || v.AgentVersion != tc.agent || v.GoVersion == "" || !strings.Contains(v.Platform, "/") {
			t.Errorf("version -o json = %+v; want client %s, agent %q", v, client, tc.agent)
		}
	}
}

// The binary as make build links it: the version comes from -ldflags, and
// the exit codes are the process's.
func TestVersionLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vxbgpctl: not in -short")
	}
	const pkgVar = "github.com/vxbgp/vxbgp/internal/version.Version"
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "-X "+pkgVar+"=") {
		t.Fatalf("the Makefile's LDFLAGS do not set %s", pkgVar)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH: cannot build vxbgpctl")
	}
	bin := filepath.Join(t.TempDir(), "vxbgpctl")
	build := exec.Command(goBin, "build", "-ldflags", "-X "+pkgVar+"=v9.8.7+test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	missing := filepath.Join(t.TempDir(), "missing.sock")
	for _, tc := range []struct {
		args       []string
		wantCode   int
		wantStdout string
	}{
		{[]string{"--version"}, 0, "vxbgpctl v9.8.7+test\n"},
		{[]string{"--socket", missing, "version"}, 0, "Client Version:  v9.8.7+test\n"},
		{[]string{"--socket", missing, "status"}, 3, ""},
		{[]string{"--socket", missing, "routes", "--type", "5"}, 2, ""},
	} {
		cmd := exec.Command(bin, tc.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.wantCode || string(out) != tc.wantStdout {
			t.Errorf("vxbgpctl %v: exit %d stdout %q stderr %q; want %d and %q", tc.args, code, out, stderr.String(), tc.wantCode, tc.wantStdout)
		}
	}
}
