package bench

import (
	"context"
	"fmt"
	"strings"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// runBatch runs `tool -n ns -batch -` (tool: ip or bridge) with lines, one
// process for many commands.
func runBatch(ctx context.Context, tool, ns string, lines []string) error {
	in := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := lab.RunEnv(ctx, in, nil, tool, "-n", ns, "-batch", "-"); err != nil {
		return fmt.Errorf("%s batch in %s: %w", tool, ns, err)
	}
	return nil
}

func ipBatch(ctx context.Context, ns string, lines []string) error {
	return runBatch(ctx, "ip", ns, lines)
}

func bridgeBatch(ctx context.Context, ns string, lines []string) error {
	return runBatch(ctx, "bridge", ns, lines)
}

// netnsPath is the path runtimes pass as CNI_NETNS for namespace name:
// where `ip netns` keeps its named namespaces.
func netnsPath(name string) string { return "/run/netns/" + name }
