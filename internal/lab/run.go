package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// idPrefix starts every run ID and so every namespace name of a lab.
const idPrefix = "vx"

// idPattern matches a run ID; nsPattern a namespace of some run. The dash
// keeps other packages' nstest namespaces ("vx"+6 hex, no dash) out.
var (
	idPattern = regexp.MustCompile(`^` + idPrefix + `[0-9a-f]{4}$`)
	nsPattern = regexp.MustCompile(`^(` + idPrefix + `[0-9a-f]{4})-[a-z0-9]+$`)
)

// DefaultRoot is where runs keep their work directories unless
// VXBGP_LAB_ROOT says otherwise. It must be traversable by the frr user,
// and its paths short: unix socket paths are limited to 107 bytes.
func DefaultRoot() string {
	if r := os.Getenv("VXBGP_LAB_ROOT"); r != "" {
		return r
	}
	return filepath.Join(os.TempDir(), "vxbgp-lab")
}

// runDir is one run's work directory and its record of what it created:
//
//	owner       "PID STARTTIME" of the harness process, to tell live runs from stale ones
//	netns       one namespace name per line, written before the namespace is created
//	pids/NAME   PID of a daemon started by the run
type runDir struct {
	id  string
	dir string
	// cpuRoot, if set, is where each host's CPU group is (cpugroup.go):
	// recordPID moves every daemon into its host's.
	cpuRoot string
}

// newRunDir picks an unused run ID under root and claims it.
func newRunDir(root string) (*runDir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create lab root %s: %w", root, err)
	}
	// FRR drops to user frr and must traverse into its directory.
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, fmt.Errorf("chmod lab root %s: %w", root, err)
	}
	existing, err := listNetns()
	if err != nil {
		return nil, err
	}
	for range 100 {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("random run id: %w", err)
		}
		id := idPrefix + hex.EncodeToString(b[:])
		if nsOfRun(existing, id) != nil {
			continue
		}
		dir := filepath.Join(root, id)
		if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("create run dir %s: %w", dir, err)
		}
		r := &runDir{id: id, dir: dir}
		if err := os.MkdirAll(filepath.Join(dir, "pids"), 0o755); err != nil {
			return nil, fmt.Errorf("create %s/pids: %w", dir, err)
		}
		owner, err := procIdentity(os.Getpid())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(owner+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write owner of %s: %w", dir, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("no free run id under %s", root)
}

// recordNetns notes a namespace before it is created, so a crash right after
// creating it still leaves a record.
func (r *runDir) recordNetns(name string) error {
	f, err := os.OpenFile(filepath.Join(r.dir, "netns"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record netns %s: %w", name, err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, name); err != nil {
		return fmt.Errorf("record netns %s: %w", name, err)
	}
	return nil
}

// netns returns the recorded namespaces, in creation order.
func (r *runDir) netns() []string {
	b, err := os.ReadFile(filepath.Join(r.dir, "netns"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// recordPID notes a daemon's PID under name (e.g. "h1-vxbgpd") and, with
// CPU groups, moves it into its host's.
func (r *runDir) recordPID(name string, pid int) error {
	p := filepath.Join(r.dir, "pids", name)
	if err := os.WriteFile(p, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("record pid %d of %s: %w", pid, name, err)
	}
	if r.cpuRoot != "" {
		return joinCPUGroup(r.cpuRoot, r.id, hostOfDaemon(name), pid)
	}
	return nil
}

// forgetPID removes a record once the daemon is known to be gone.
func (r *runDir) forgetPID(name string) {
	_ = os.Remove(filepath.Join(r.dir, "pids", name))
}

// pids returns the recorded daemon PIDs by name.
func (r *runDir) pids() map[string]int {
	out := map[string]int{}
	ents, _ := os.ReadDir(filepath.Join(r.dir, "pids"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(r.dir, "pids", e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[e.Name()] = pid
		}
	}
	return out
}

// ownerAlive reports whether the process that created the run still runs.
func (r *runDir) ownerAlive() bool {
	b, err := os.ReadFile(filepath.Join(r.dir, "owner"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return false
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		return false
	}
	now, err := procIdentity(pid)
	return err == nil && now == strings.TrimSpace(string(b))
}

// nsOfRun returns the names in all that belong to run id.
func nsOfRun(all []string, id string) []string {
	var out []string
	for _, n := range all {
		if m := nsPattern.FindStringSubmatch(n); m != nil && m[1] == id {
			out = append(out, n)
		}
	}
	return out
}
