// Command vxbgp-bench runs the vxbgp benchmarks in a namespace lab next to
// their references and prints one table, also written as Markdown and JSON.
// It needs root, FRR 8.4 and iperf3.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/bench"
	"github.com/vxbgp/vxbgp/internal/lab"
)

const refVersion = "v1.10.0"

func main() {
	if len(os.Args) > 1 && os.Args[1] == bench.SpeakerFlag {
		if err := bench.RunSpeaker(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "vxbgp-bench speaker:", err)
			os.Exit(1)
		}
		return
	}
	quick := flag.Bool("quick", false, "short run (10 convergence samples, 20 pods, 3 s iperf, Go benchmarks once)")
	out := flag.String("out", "bench/results", "directory for the Markdown and JSON results")
	binDir := flag.String("bin", "", "directory with vxbgpd, vxbgpctl, vxbgp-cni (default: this binary's directory, else ./bin)")
	refDir := flag.String("ref-cni", "", "directory with the reference bridge and host-local plugins (default: built with go install into a cache dir)")
	bulk := flag.String("bulk", "1000,10000", "comma list of sizes of the bulk convergence rows, one row each, measured in turn in the same lab")
	repo := flag.String("repo", "", "root of the vxbgp module for the Go micro-benchmarks (default: found upwards from the working directory, else from this binary's)")
	only := flag.String("only", "", "comma list of parts to run (default all): "+strings.Join(bench.Parts, ","))
	fleet := flag.Int("fleet", 50, "hosts of the fleet part (-only fleet; not in -quick)")
	fleetPods := flag.Int("fleet-pods", 20, "pods on each host of the fleet part")
	fleetChurn := flag.Int("fleet-churn", 100, "pods deleted and as many created in each churn round of the fleet part")
	verbose := flag.Bool("v", false, "log lab progress")
	flag.Parse()
	parts, err := bench.ParseParts(*only)
	if err != nil {
		log.Fatal(err)
	}
	sizes, err := bench.ParseBulk(*bulk)
	if err != nil {
		log.Fatal(err)
	}
	if *repo == "" {
		wd, _ := os.Getwd()
		exeDir := ""
		if exe, err := os.Executable(); err == nil {
			exeDir = filepath.Dir(exe)
		}
		*repo = bench.FindRepo(wd, exeDir)
	}
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if os.Geteuid() != 0 {
		log.Fatal("vxbgp-bench needs root (network namespaces)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *binDir == "" {
		*binDir = defaultBinDir()
	}
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		log.Fatal(err)
	}
	if *refDir == "" && (len(parts) == 0 || slices.Contains(parts, bench.PartCNI)) {
		if *refDir, err = installRefCNI(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Leftovers of crashed runs only; live runs of others stay.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	if removed, err := lab.CleanupStale(cctx, lab.StaleOptions{}); err != nil || len(removed) > 0 {
		log.Printf("removed stale lab runs %v (err: %v)", removed, err)
	}
	cancel()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	c := bench.Config{Quick: *quick, Bulk: sizes, Only: parts, Self: self, BinDir: abs, RefCNI: *refDir, RepoDir: *repo,
		Fleet: *fleet, FleetPods: *fleetPods, FleetChurn: *fleetChurn, Logf: func(string, ...any) {}}
	if *verbose {
		c.Logf = log.Printf
	}
	log.Printf("vxbgp-bench: quick=%v bin=%s ref-cni=%s repo=%s bulk=%v only=%v", *quick, abs, *refDir, *repo, sizes, parts)
	rep := bench.Run(ctx, c)
	rep.WriteText(os.Stdout)
	files, err := rep.Save(*out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("took %s; wrote %v\n", rep.Duration, files)
	for _, r := range rep.Rows {
		if r.Err != "" {
			os.Exit(2)
		}
	}
}

func defaultBinDir() string {
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(d, lab.BinAgent)); err == nil {
			return d
		}
	}
	return "bin"
}

// installRefCNI builds the reference plugins once into a cache directory.
func installRefCNI(ctx context.Context) (string, error) {
	dir := filepath.Join(os.TempDir(), "vxbgp-bench-cni-"+refVersion)
	if _, err := os.Stat(filepath.Join(dir, "bridge")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "host-local")); err == nil {
			return dir, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install",
		"github.com/containernetworking/plugins/plugins/main/bridge@"+refVersion,
		"github.com/containernetworking/plugins/plugins/ipam/host-local@"+refVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install reference CNI plugins into %s: %w", dir, err)
	}
	return dir, nil
}
