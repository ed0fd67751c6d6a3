package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// command is the plugin process for r, in the host netns, as a runtime
// starts it. `ip netns exec` execs the plugin in place, so the process is
// the plugin's (a SIGKILL hits the plugin itself).
func (e *testEnv) command(r pluginRun) *exec.Cmd {
	if r.ifName == "" {
		r.ifName = "eth0"
	}
	c := exec.Command("ip", "netns", "exec", e.host, pluginBin)
	c.Env = []string{
		"CNI_COMMAND=" + r.cmd, "CNI_CONTAINERID=" + r.containerID, "CNI_NETNS=" + r.netns,
		"CNI_IFNAME=" + r.ifName, "CNI_PATH=" + cniPath, "PATH=" + os.Getenv("PATH"),
	}
	c.Stdin = strings.NewReader(r.conf)
	return c
}

// runQuiet is run for goroutines: no testing.T. It returns an error
// holding the CNI error's code and message when the plugin failed.
func (e *testEnv) runQuiet(r pluginRun) error {
	_, err := e.runOut(r)
	return err
}

// runOut is runQuiet that also returns the plugin's stdout (the result).
func (e *testEnv) runOut(r pluginRun) ([]byte, error) {
	c := e.command(r)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		var ce types.Error
		if json.Unmarshal(stdout.Bytes(), &ce) == nil && ce.Msg != "" {
			return nil, fmt.Errorf("%s %s: code %d: %s", r.cmd, r.containerID, ce.Code, ce.Msg)
		}
		return nil, fmt.Errorf("%s %s: %v: %s %s", r.cmd, r.containerID, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// resultAddrs returns the addresses of a CNI 1.x ADD result.
func resultAddrs(out []byte) ([]netip.Prefix, error) {
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("result %q: %w", out, err)
	}
	var ps []netip.Prefix
	for _, ip := range res.IPs {
		p, err := netip.ParsePrefix(ip.Address)
		if err != nil {
			return nil, fmt.Errorf("result address %q: %w", ip.Address, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// parallel runs f(i) for i in [0,n) at once and returns the errors.
func parallel(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errs
}

// TestConcurrentAddDel: 200 plugin processes ADD at once, each its own
// pod: all succeed with 200 distinct addresses; 200 DELs at once leave
// the store empty and no veth behind.
func TestConcurrentAddDel(t *testing.T) {
	e := newTestEnv(t)
	const n = 200
	pods := make([]string, n)
	for i := range pods {
		_, pods[i], _ = newPod(t)
	}
	conf := e.conf("1.1.0", nil)
	run := func(cmd string) func(int) error {
		return func(i int) error {
			return e.runQuiet(pluginRun{cmd: cmd, containerID: fmt.Sprintf("conc%03d", i), netns: "/var/run/netns/" + pods[i], conf: conf})
		}
	}
	// What each ADD returned, not the store, is what must be distinct:
	// the store names its records by address, so it cannot hold a
	// duplicate even when two pods were given the same one.
	given := make([][]netip.Prefix, n)
	errs := parallel(n, func(i int) error {
		out, err := e.runOut(pluginRun{cmd: "ADD", containerID: fmt.Sprintf("conc%03d", i), netns: "/var/run/netns/" + pods[i], conf: conf})
		if err != nil {
			return err
		}
		given[i], err = resultAddrs(out)
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if dups := duplicateAddrs(given); len(dups) > 0 {
		t.Errorf("addresses given to more than one pod: %v", dups)
	}
	recs, err := e.store(t).List()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]string{}
	for _, r := range recs {
		seen[r.IPs[0]] = r.ContainerID
	}
	if len(seen) != n {
		t.Errorf("%d distinct addresses in the store, want %d", len(seen), n)
	}
	for i, ps := range given {
		if len(ps) != 1 || seen[ps[0].Addr()] != fmt.Sprintf("conc%03d", i) {
			t.Errorf("conc%03d was given %v; the store holds it for %q", i, ps, seen[firstAddr(ps)])
		}
	}
	// The kernel agrees: every pod has its recorded address.
	for i, r := range recs {
		if i%20 != 0 {
			continue // a sample keeps the test quick
		}
		pod := pods[mustAtoi(t, strings.TrimPrefix(r.ContainerID, "conc"))]
		if out := nstest.IP(t, pod, "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "inet "+r.IPs[0].String()+"/16") {
			t.Errorf("pod %s: %s, want %s", pod, out, r.IPs[0])
		}
	}
	for _, err := range parallel(n, run("DEL")) {
		if err != nil {
			t.Error(err)
		}
	}
	if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
		t.Errorf("store holds %d records (%v) after %d DELs", len(recs), err, n)
	}
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("%d host veths left", len(v))
	}
	assertStoreClean(t, e)
}

// duplicateAddrs returns every address that appears more than once in
// the results, with the indexes of the pods it was given to.
func duplicateAddrs(given [][]netip.Prefix) map[netip.Addr][]int {
	by := map[netip.Addr][]int{}
	for i, ps := range given {
		for _, p := range ps {
			by[p.Addr()] = append(by[p.Addr()], i)
		}
	}
	for a, is := range by {
		if len(is) < 2 {
			delete(by, a)
		}
	}
	return by
}

func firstAddr(ps []netip.Prefix) netip.Addr {
	if len(ps) == 0 {
		return netip.Addr{}
	}
	return ps[0].Addr()
}

// TestKilledAdds: ADDs SIGKILLed at random points, ten at a time, many
// times. At every point no address is configured in two pods, and every
// address configured in a pod is held in the store for that pod (so it
// cannot be handed out again). Afterwards DEL (for half of the killed
// attachments, as a runtime retries) and GC (for the rest) leave exactly
// the completed attachments allocated and no veth of a killed one.
func TestKilledAdds(t *testing.T) {
	e := newTestEnv(t)
	const rounds, batch = 6, 10
	conf := e.conf("1.1.0", map[string]any{"socket": "/nonexistent/vxbgp.sock"}) // agent down: one less thing to wait for
	var all []*killedAdd
	pods := map[string]string{} // container ID -> pod netns
	for round := range rounds {
		atts := make([]*killedAdd, batch)
		for i := range atts {
			_, pod, _ := newPod(t)
			atts[i] = &killedAdd{cid: fmt.Sprintf("kill%d-%d", round, i), pod: pod}
		}
		parallel(batch, func(i int) error {
			a := atts[i]
			c := e.command(pluginRun{cmd: "ADD", containerID: a.cid, netns: "/var/run/netns/" + a.pod, conf: conf})
			if err := c.Start(); err != nil {
				return err
			}
			// 0-40ms covers every step of an ADD on this machine
			// (about 15ms), and some finish.
			timer := time.AfterFunc(time.Duration(rand.IntN(40_000))*time.Microsecond, func() { _ = c.Process.Signal(syscall.SIGKILL) })
			err := c.Wait()
			timer.Stop()
			a.done = err == nil
			return nil
		})
		all = append(all, atts...)
		for _, a := range atts {
			pods[a.cid] = a.pod
		}
		assertNoDoubleAddress(t, e, pods)
	}
	// The test proves something only if some ADDs were killed part-way,
	// leaving a record or a veth behind for DEL and GC to clean up.
	if killed, partial := killedPartWay(t, e, all); killed == 0 || partial == 0 {
		t.Errorf("%d ADDs killed, %d of them part-way (a record or a veth left): the kill times missed every step of an ADD", killed, partial)
	} else {
		t.Logf("%d ADDs killed, %d of them part-way", killed, partial)
	}
	var valid []string
	killed := 0
	for _, a := range all {
		if a.done {
			valid = append(valid, a.cid)
			continue
		}
		killed++
		if killed%2 == 0 {
			e.mustRun(t, pluginRun{cmd: "DEL", containerID: a.cid, netns: "/var/run/netns/" + a.pod, conf: conf})
		}
	}
	t.Logf("%d ADDs completed, %d killed", len(valid), killed)
	gcConf := map[string]any{"cni.dev/valid-attachments": gcAttachments(valid)}
	e.mustRun(t, pluginRun{cmd: "GC", conf: e.conf("1.1.0", mergeMaps(gcConf, map[string]any{"socket": "/nonexistent/vxbgp.sock"}))})

	recs, err := e.store(t).List()
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, r := range recs {
		held = append(held, r.ContainerID)
	}
	if !sameSet(held, valid) {
		t.Errorf("after DEL and GC the store holds %v, want the completed %v", held, valid)
	}
	var wantVeths []string
	for _, cid := range valid {
		wantVeths = append(wantVeths, HostVethName(cid, "eth0"))
	}
	if v := e.hostVeths(t); !sameSet(v, wantVeths) {
		t.Errorf("host veths %v, want those of the completed ADDs %v", v, wantVeths)
	}
	for _, a := range all {
		if !a.done {
			if out := nstest.IP(t, a.pod, "-o", "link", "show"); strings.Contains(out, "eth0") {
				t.Errorf("killed %s: pod still has eth0", a.cid)
			}
		}
	}
	assertNoDoubleAddress(t, e, pods)
	// New pods still get addresses no one has.
	for i := range 3 {
		_, pod, path := newPod(t)
		cid := fmt.Sprintf("after%d", i)
		e.mustRun(t, pluginRun{cmd: "ADD", containerID: cid, netns: path, conf: conf})
		pods[cid] = pod
	}
	assertNoDoubleAddress(t, e, pods)
	assertStoreClean(t, e)
}

// killedAdd is one ADD of TestKilledAdds.
type killedAdd struct {
	cid, pod string
	done     bool // it completed before the kill
}

// killedPartWay counts the ADDs that did not complete, and those of them
// that left a store record or a host veth behind.
func killedPartWay(t *testing.T, e *testEnv, all []*killedAdd) (killed, partial int) {
	t.Helper()
	recs, err := e.store(t).List()
	if err != nil {
		t.Fatal(err)
	}
	traces := map[string]bool{}
	for _, r := range recs {
		traces[r.ContainerID] = true
	}
	veths := map[string]bool{}
	for _, v := range e.hostVeths(t) {
		veths[v] = true
	}
	for _, a := range all {
		if a.done {
			continue
		}
		killed++
		if traces[a.cid] || veths[HostVethName(a.cid, "eth0")] {
			partial++
		}
	}
	return killed, partial
}

// assertNoDoubleAddress checks that no address is configured in two of
// pods and that each configured one is held in the store by its pod.
func assertNoDoubleAddress(t *testing.T, e *testEnv, pods map[string]string) {
	t.Helper()
	recs, err := e.store(t).List()
	if err != nil {
		t.Fatal(err)
	}
	holder := map[string]string{}
	for _, r := range recs {
		holder[r.IPs[0].String()] = r.ContainerID
	}
	seen := map[string]string{}
	for cid, pod := range pods {
		out, err := exec.Command("ip", "-n", pod, "-4", "-o", "addr", "show", "dev", "eth0").Output()
		if err != nil {
			continue // no eth0: killed before the veth existed, or deleted
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 4 || f[2] != "inet" {
				continue
			}
			ip := strings.SplitN(f[3], "/", 2)[0]
			if o, dup := seen[ip]; dup {
				t.Errorf("%s configured in the pods of %s and %s", ip, o, cid)
			}
			seen[ip] = cid
			if holder[ip] != cid {
				t.Errorf("%s configured in the pod of %s but held in the store by %q", ip, cid, holder[ip])
			}
		}
	}
}

func gcAttachments(cids []string) []types.GCAttachment {
	out := []types.GCAttachment{}
	for _, c := range cids {
		out = append(out, types.GCAttachment{ContainerID: c, IfName: "eth0"})
	}
	return out
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertStoreClean: every file in the store decodes and matches its name;
// no temporary file is left.
func assertStoreClean(t *testing.T, e *testEnv) {
	t.Helper()
	root := filepath.Join(e.stateDir, "ipam")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			t.Errorf("temporary file left: %s", path)
		case name == ".lock":
		case name == "last_reserved":
			b, _ := os.ReadFile(path)
			if _, err := netip.ParseAddr(strings.TrimSpace(string(b))); err != nil {
				t.Errorf("%s: %q", path, b)
			}
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var r ipam.Record
			if err := json.Unmarshal(b, &r); err != nil || len(r.IPs) == 0 || r.IPs[0].String() != name {
				t.Errorf("record %s does not decode or match its name: %v %s", path, err, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The duplicate check of TestConcurrentAddDel can fire.
func TestDuplicateAddrs(t *testing.T) {
	p := netip.MustParsePrefix
	given := [][]netip.Prefix{{p("10.0.0.1/16")}, {p("10.0.0.2/16")}, {p("10.0.0.1/16")}}
	got := duplicateAddrs(given)
	if len(got) != 1 || len(got[netip.MustParseAddr("10.0.0.1")]) != 2 {
		t.Errorf("duplicateAddrs = %v, want 10.0.0.1 given to pods 0 and 2", got)
	}
	if got := duplicateAddrs(given[:2]); len(got) != 0 {
		t.Errorf("duplicateAddrs of distinct addresses = %v", got)
	}
}
