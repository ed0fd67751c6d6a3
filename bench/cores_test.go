package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		cpus []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1}, "0-1"},
		{[]int{0, 2, 3, 4, 7}, "0,2-4,7"},
		{[]int{65, 66}, "65-66"},
	} {
		var set unix.CPUSet
		for _, c := range tc.cpus {
			set.Set(c)
		}
		if got := cpuList(&set); got != tc.want {
			t.Errorf("cpuList(%v) = %q, want %q", tc.cpus, got, tc.want)
		}
	}
}

// TestPinProcs splits this machine's CPUs and pins a real process to each
// half in turn, as the type-2 row does, then back to all of them; the
// kernel's own view (Cpus_allowed_list) must follow.
func TestPinProcs(t *testing.T) {
	split, err := splitCores()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the type-2 row needs 2 CPUs: %v", err)
		}
		t.Skipf("SKIPPED, not run: %v", err)
	}
	a, b := cpusOf(&split.halves[0]), cpusOf(&split.halves[1])
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("halves %v and %v: want two non-empty halves of one size", a, b)
	}
	for _, c := range a {
		if split.halves[1].IsSet(c) || !split.all.IsSet(c) {
			t.Fatalf("CPU %d of the first half is in the second, or not ours: %v, %v", c, a, b)
		}
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for _, set := range []*unix.CPUSet{&split.halves[0], &split.halves[1], &split.all} {
		if err := pinProcs([]int{pid}, set); err != nil {
			t.Fatal(err)
		}
		if got, want := allowedList(t, pid), cpuList(set); got != want {
			t.Errorf("after pinning to %s the kernel lets %d run on %s", want, pid, got)
		}
	}
	if err := pinProcs([]int{1 << 30}, &split.all); err == nil {
		t.Error("pinning a process that does not exist: no error")
	}
}

func allowedList(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list for %d", pid)
	return ""
}
