package ipam

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// The multi-process test re-executes this test binary as the child
// processes; these variables tell a child what to do.
const (
	childEnvDir   = "VXBGP_IPAM_CHILD_DIR"
	childEnvName  = "VXBGP_IPAM_CHILD_NAME"
	childEnvCount = "VXBGP_IPAM_CHILD_COUNT"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnvDir); dir != "" {
		os.Exit(allocateChild(dir, os.Getenv(childEnvName), os.Getenv(childEnvCount)))
	}
	os.Exit(m.Run())
}

// allocateChild allocates count addresses and prints one per line, the way
// concurrent vxbgp-cni processes would.
func allocateChild(dir, name, count string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	block := netip.MustParsePrefix("10.244.1.0/24")
	for i := range n {
		ip, err := allocOne(s, "pods", block, addrs("10.244.1.1"), Owner{ContainerID: fmt.Sprintf("%s-%d", name, i), IfName: "eth0"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ip)
	}
	return 0
}

// TestConcurrentProcesses: several processes allocating at once from one
// state directory never get the same address; only flock keeps them apart.
func TestConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	const procs, each = 5, 20
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnvDir+"="+dir, childEnvName+"="+fmt.Sprintf("p%d", p), childEnvCount+"="+strconv.Itoa(each))
		outs[p] = new(bytes.Buffer)
		cmd.Stdout = outs[p]
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[p] = cmd
	}
	seen := make(map[string]int)
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", p, err)
		}
		sc := bufio.NewScanner(outs[p])
		for sc.Scan() {
			if q, dup := seen[sc.Text()]; dup {
				t.Errorf("processes %d and %d both got %s", q, p, sc.Text())
			}
			seen[sc.Text()] = p
		}
	}
	if len(seen) != procs*each {
		t.Errorf("%d distinct addresses, want %d", len(seen), procs*each)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.List()
	if err != nil || len(recs) != procs*each {
		t.Errorf("List = %d records, %v; want %d", len(recs), err, procs*each)
	}
	for _, r := range recs {
		if _, ok := seen[r.IPs[0].String()]; !ok {
			t.Errorf("store holds %s that no process reported", r.IPs[0])
		}
	}
}
