package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// listNetns returns the names of all named namespaces.
func listNetns() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// delNetns deletes a namespace if it exists. Processes still inside it whose
// cmdline contains marker (our work dir) are stopped first: a namespace
// whose name is deleted lives on as long as a process holds it.
func delNetns(ctx context.Context, name, marker string) error {
	if _, err := os.Stat(netnsDir + "/" + name); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var errs []error
	if out, err := run(ctx, nil, nil, "ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || !cmdlineContains(pid, marker) {
				continue
			}
			if err := terminate(ctx, pid, marker, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := run(ctx, nil, nil, "ip", "netns", "del", name); err != nil {
		if _, serr := os.Stat(netnsDir + "/" + name); !errors.Is(serr, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
