package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The systemd unit's seccomp-based settings, emulated by
// e2e/cmd/vxbgp-caps (seccomp.go) the way systemd builds its filter:
// SystemCallFilter= (the groups expanded by systemd-analyze
// syscall-filter, the names numbered from golang.org/x/sys's table),
// SystemCallErrorNumber=, RestrictAddressFamilies=, RestrictNamespaces=,
// MemoryDenyWriteExecute= and SystemCallArchitectures=native (always on
// in the launcher's filter).

// addressFamilies are the numbers of the families a unit may name.
var addressFamilies = map[string]int{
	"AF_UNIX": unix.AF_UNIX, "AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6,
	"AF_NETLINK": unix.AF_NETLINK, "AF_PACKET": unix.AF_PACKET,
}

// unitSeccomp returns the launcher flags for the unit's keys (last value
// of each single-valued key, lists as given).
func unitSeccomp(t *testing.T, keys map[string][]string) []string {
	t.Helper()
	last := func(k string) string {
		if v := keys[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	var flags []string
	if fams := keys["RestrictAddressFamilies"]; len(fams) > 0 {
		var nums []string
		for _, f := range fams {
			n, ok := addressFamilies[f]
			if !ok || strings.HasPrefix(f, "~") {
				t.Fatalf("RestrictAddressFamilies: %q is not supported by this test", f)
			}
			nums = append(nums, strconv.Itoa(n))
		}
		flags = append(flags, "-families", strings.Join(nums, ","))
	}
	if last("RestrictNamespaces") == "yes" {
		flags = append(flags, "-no-namespaces")
	}
	if last("MemoryDenyWriteExecute") == "yes" {
		flags = append(flags, "-no-wx")
	}
	if filter := keys["SystemCallFilter"]; len(filter) > 0 {
		nums, unknown := syscallNumbers(t, filter)
		t.Logf("SystemCallFilter=%s: %d syscalls allowed on amd64 (%d names of other architectures left out)", strings.Join(filter, " "), len(nums), unknown)
		flags = append(flags, "-syscalls", strings.Join(nums, ","))
		switch e := last("SystemCallErrorNumber"); e {
		case "", "kill":
			flags = append(flags, "-errno", "0") // killed instead, as systemd does
		case "EPERM":
			flags = append(flags, "-errno", strconv.Itoa(int(unix.EPERM)))
		default:
			t.Fatalf("SystemCallErrorNumber=%s is not supported by this test", e)
		}
	}
	return flags
}

// syscallNumbers expands an allow list of syscall names and @groups with
// systemd-analyze, and numbers the names for amd64.
func syscallNumbers(t *testing.T, filter []string) (nums []string, unknown int) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and systemd-analyze (Debian package systemd) is missing")
		}
		t.Skip("SKIPPED: systemd-analyze (Debian package systemd) is missing: SystemCallFilter= cannot be expanded")
	}
	table := syscallTable(t)
	seen := map[string]bool{}
	var expand func(name string)
	expand = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if !strings.HasPrefix(name, "@") {
			if nr, ok := table[name]; ok {
				nums = append(nums, strconv.Itoa(nr))
			} else {
				unknown++
			}
			return
		}
		out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || l == name || strings.HasPrefix(l, "#") {
				continue
			}
			expand(l)
		}
	}
	for _, f := range filter {
		if strings.HasPrefix(f, "~") {
			t.Fatalf("SystemCallFilter=%s: a deny list is not supported by this test", f)
		}
		expand(f)
	}
	slices.Sort(nums)
	return slices.Compact(nums), unknown
}

// syscallTable maps amd64 syscall names to numbers, read from
// golang.org/x/sys's generated table (the module's own dependency).
func syscallTable(t *testing.T) map[string]int {
	t.Helper()
	root, err := moduleRoot()
	must(t, err)
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys")
	cmd.Dir = root
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list golang.org/x/sys: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "unix", "zsysnum_linux_amd64.go"))
	must(t, err)
	table := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s*SYS_([A-Z0-9_]+)\s*=\s*(\d+)`).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[2])
		table[strings.ToLower(m[1])] = n
	}
	if len(table) < 300 {
		t.Fatalf("only %d syscalls in golang.org/x/sys's amd64 table", len(table))
	}
	return table
}

// notifySockets are one service manager notify socket per host (paths:
// abstract sockets belong to a network namespace), and what each got.
type notifySockets struct {
	dir  string
	mu   sync.Mutex
	msgs map[string][]string // host -> messages
}

func newNotifySockets(t *testing.T) *notifySockets {
	dir, err := os.MkdirTemp("", "vxn") // short: sun_path holds 108 bytes
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &notifySockets{dir: dir, msgs: map[string][]string{}}
}

// listen opens host's socket; it returns its path.
func (s *notifySockets) listen(t *testing.T, host string) string {
	path := filepath.Join(s.dir, host)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs[host] = append(s.msgs[host], string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	return path
}

// count counts host's messages holding line.
func (s *notifySockets) count(host, line string) (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs[host] {
		if slices.Contains(strings.Split(strings.TrimSpace(m), "\n"), line) {
			n++
		}
	}
	return n, slices.Clone(s.msgs[host])
}

// checkNotified: the agent on host told its notify socket it is ready,
// and fed the watchdog (WATCHDOG_USEC=2s: every second).
func (s *notifySockets) checkNotified(t *testing.T, host string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ready, msgs := s.count(host, "READY=1")
		wd, _ := s.count(host, "WATCHDOG=1")
		if ready == 1 && wd >= 2 {
			t.Logf("%s: sd_notify: READY=1, %d WATCHDOG=1 so far", host, wd)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: sd_notify: %d READY=1 and %d WATCHDOG=1, want 1 and at least 2: %q", host, ready, wd, msgs)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seccompStatus is what /proc/PID/status says of seccomp.
func seccompStatus(st map[string]string) string {
	return fmt.Sprintf("Seccomp %s, %s filters", st["Seccomp"], st["Seccomp_filters"])
}

// hasOwnSeccompFilter: the agent (status st) runs in seccomp filter mode
// with one filter more than the test itself (which may run under a
// container's filter already).
func hasOwnSeccompFilter(t *testing.T, st map[string]string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	must(t, err)
	own := 0
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "Seccomp_filters" {
			own, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	n, err := strconv.Atoi(st["Seccomp_filters"])
	return err == nil && st["Seccomp"] == "2" && n == own+1
}
