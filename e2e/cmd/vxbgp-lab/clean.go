package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// clean removes every lab run under the root, live or not, and any process
// still running from a path under it.
func clean(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("clean", flag.ExitOnError)
	root := fs.String("root", lab.DefaultRoot(), "lab root directory")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	removed, err := lab.CleanupStale(ctx, lab.StaleOptions{Root: *root, All: true, Logf: logf})
	pids, kerr := lab.KillOrphans(ctx, *root)
	fmt.Printf("removed %d lab runs/namespaces %v, stopped %d stray processes %v\n", len(removed), removed, len(pids), pids)
	if err != nil || kerr != nil {
		fmt.Fprintf(os.Stderr, "clean: %v %v\n", err, kerr)
		return 1
	}
	return 0
}
