package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/kubelab/cluster"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// A kept cluster cannot outlive the process that started it: its daemons
// (control plane, containerd, kubelets) die with their parent, and only
// Cluster.Stop knows everything to remove (cgroups, mounts, shims). So
// with -keep the demo runs in a keeper: this program again, in a session
// of its own, whose output the front process relays until the keeper
// reports the demo's result on fd 3 and lets go of the terminal. The
// keeper then waits for SIGTERM (make demo-k8s-clean) and stops the
// cluster. Each keeper leaves a record in keepDir().

// keepRecord is what demo-k8s-clean finds of a keeper.
type keepRecord struct {
	PID        int    `json:"pid"`
	Cluster    string `json:"cluster"` // work dir
	Kubeconfig string `json:"kubeconfig"`
	Log        string `json:"log"` // the keeper's output after it let go
}

// keepDir holds the keepers' records, beside the labs' runs.
func keepDir() string { return filepath.Join(lab.DefaultRoot(), "demo-k8s") }

// detach runs the demo again as a keeper and relays its output; it
// returns the demo's result, leaving the keeper (and the cluster) up.
func detach(ctx context.Context, args []string, start time.Time) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return 1
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return 1
	}
	stR, stW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return 1
	}
	argv := append([]string{"demo-k8s", "-keeper", "-start", strconv.FormatInt(start.UnixMilli(), 10)}, args...)
	cmd := exec.Command(exe, argv...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = outW, outW, []*os.File{stW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal: no SIGHUP, no Ctrl-C
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: start keeper: %v\n", err)
		return 1
	}
	outW.Close()
	stW.Close()
	relayed := make(chan struct{})
	go func() { _, _ = io.Copy(os.Stdout, outR); close(relayed) }()
	status := make(chan []byte, 1)
	go func() { b, _ := bufio.NewReader(stR).ReadBytes('\n'); status <- b }()
	var st []byte
	select {
	case st = <-status:
	case <-ctx.Done(): // Ctrl-C before the end: the keeper removes the cluster
		_ = cmd.Process.Signal(syscall.SIGTERM)
		st = <-status
	}
	<-relayed
	if ctx.Err() != nil { // interrupted: wait until the keeper removed the cluster
		_ = cmd.Wait()
		return 1
	}
	if string(bytes.TrimSpace(st)) == "ok" {
		_ = cmd.Process.Release()
		return 0
	}
	if len(st) == 0 { // the keeper exited: nothing is kept
		_ = cmd.Wait()
	}
	return 1
}

// keep is the keeper's end of the demo: record the cluster, print how to
// reach it, report the result, let go of the front process's pipes, wait
// for SIGTERM or SIGINT, then stop the cluster.
func keep(ctx context.Context, c *cluster.Cluster, f k8sFlags, k8s string, ok bool, logf func(string, ...any)) int {
	if ctx.Err() != nil { // interrupted (Ctrl-C in the front process): keep nothing
		stopKept(ctx, c, logf)
		report(false)
		return 1
	}
	rec := keepRecord{PID: os.Getpid(), Cluster: c.Dir, Kubeconfig: c.Kubeconfig,
		Log: filepath.Join(keepDir(), strconv.Itoa(os.Getpid())+".log")}
	recPath := filepath.Join(keepDir(), strconv.Itoa(os.Getpid())+".json")
	err := os.MkdirAll(keepDir(), 0o755)
	var b []byte
	if err == nil {
		b, err = json.Marshal(rec)
	}
	if err == nil {
		err = os.WriteFile(recPath, b, 0o644)
	}
	var logFile *os.File
	if err == nil {
		logFile, err = os.Create(rec.Log)
	}
	if err != nil { // nothing could find it later: do not keep it
		fmt.Fprintf(os.Stderr, "demo-k8s: record the kept cluster: %v; removing it\n", err)
		_ = os.Remove(recPath)
		stopKept(ctx, c, logf)
		report(false)
		return 1
	}
	printK8sNext(os.Stdout, c, f, k8s)
	fmt.Printf("wall time: %v (the cluster stays up)\n", time.Since(time.UnixMilli(f.startUnixMillis)).Round(time.Millisecond))
	// From here on the output goes to the log: the front process sees
	// end of file and exits with the result.
	for _, fd := range []int{1, 2} {
		_ = unix.Dup3(int(logFile.Fd()), fd, 0)
	}
	report(ok)
	<-ctx.Done()
	logf("signal received: removing the kept cluster %s", c.ID)
	stopKept(ctx, c, logf)
	_ = os.Remove(recPath)
	return 0
}

// report writes the demo's result on fd 3, the front process's status
// pipe, and closes it.
func report(ok bool) {
	st := os.NewFile(3, "status")
	if ok {
		_, _ = st.WriteString("ok\n")
	} else {
		_, _ = st.WriteString("failed\n")
	}
	st.Close()
}

func stopKept(ctx context.Context, c *cluster.Cluster, logf func(string, ...any)) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	if err := stopK8sDemo(cctx, c); err != nil {
		logf("demo-k8s: cleanup: %v", err)
		return
	}
	logf("cluster %s removed", c.ID)
}

// demoK8sClean stops every kept demo-k8s cluster: SIGTERM to its keeper,
// which removes it, then waits for the keeper to exit.
func demoK8sClean(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("demo-k8s-clean", flag.ExitOnError)
	_ = fs.Parse(args)
	recs, _ := filepath.Glob(filepath.Join(keepDir(), "*.json"))
	if len(recs) == 0 {
		fmt.Println("no kept demo-k8s cluster")
		return 0
	}
	code := 0
	for _, p := range recs {
		var rec keepRecord
		b, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "demo-k8s-clean: %s: %v\n", p, err)
			code = 1
			continue
		}
		if !isKeeper(rec.PID) {
			fmt.Printf("keeper %d of %s is gone (its cluster went with it, or see make demo-clean): record removed\n", rec.PID, rec.Cluster)
			_ = os.Remove(p)
			_ = os.Remove(rec.Log)
			continue
		}
		t0 := time.Now()
		_ = syscall.Kill(rec.PID, syscall.SIGTERM)
		for isKeeper(rec.PID) && time.Since(t0) < 4*time.Minute {
			time.Sleep(200 * time.Millisecond)
		}
		if isKeeper(rec.PID) {
			fmt.Fprintf(os.Stderr, "demo-k8s-clean: keeper %d still runs after %v; its log: %s\n", rec.PID, time.Since(t0).Round(time.Second), rec.Log)
			code = 1
			continue
		}
		logTail, _ := os.ReadFile(rec.Log)
		fmt.Printf("removed the kept cluster %s (keeper %d) in %v\n%s", rec.Cluster, rec.PID, time.Since(t0).Round(time.Millisecond),
			lastLines(string(logTail), 3))
		_ = os.Remove(rec.Log)
		_ = os.Remove(p) // the keeper removes it too
	}
	return code
}

// isKeeper reports whether pid runs this program as a keeper (not a PID
// reused by something else).
func isKeeper(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := bytes.Split(b, []byte{0})
	return len(args) > 2 && bytes.Equal(args[1], []byte("demo-k8s")) && bytes.Equal(args[2], []byte("-keeper"))
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 || len(lines[0]) == 0 {
		return ""
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}
