package lab

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Helpers for the benchmark harness (bench/): namespaces and batches that the
// run records and Close removes, and timed deletes.

// AddNetns creates namespace <run>-<suffix> with lo up; Close deletes it.
func (l *Lab) AddNetns(ctx context.Context, suffix string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addNetns(ctx, name)
}

// IPBatch runs `ip -n ns -batch -` with lines.
func IPBatch(ctx context.Context, ns string, lines []string) error { return ipBatch(ctx, ns, lines) }

// BridgeBatch runs `bridge -n ns -batch -` with lines.
func BridgeBatch(ctx context.Context, ns string, lines []string) error {
	in := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := run(ctx, in, nil, "bridge", "-n", ns, "-batch", "-"); err != nil {
		return fmt.Errorf("bridge batch in %s: %w", ns, err)
	}
	return nil
}

// Sysctl sets kernel parameters inside ns.
func Sysctl(ctx context.Context, ns string, kv ...string) error { return sysctl(ctx, ns, kv...) }

// RunEnv runs argv with stdin and env (nil: inherit) and returns stdout.
func RunEnv(ctx context.Context, stdin []byte, env []string, argv ...string) ([]byte, error) {
	return run(ctx, stdin, env, argv...)
}

// DelPodTimed is DelPod that returns how long the CNI DEL alone took.
func (l *Lab) DelPodTimed(ctx context.Context, p *Pod) (time.Duration, error) {
	start := time.Now()
	if _, err := p.Host.CNI(ctx, "DEL", p.ContainerID, netnsDir+"/"+p.NS, p.IfName, p.Host.NetConf()); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := delNetns(ctx, p.NS, l.Dir); err != nil {
		return d, err
	}
	l.mu.Lock()
	for i, q := range l.pods {
		if q == p {
			l.pods = append(l.pods[:i], l.pods[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	return d, nil
}

// DelNetns deletes a namespace this run created.
func (l *Lab) DelNetns(ctx context.Context, name string) error { return delNetns(ctx, name, l.Dir) }

// NetnsPath is the path runtimes pass as CNI_NETNS for namespace name.
func NetnsPath(name string) string { return netnsDir + "/" + name }

// AddUnderlayNS creates namespace <run>-<suffix> whose eth0 (addr/24) is a
// port named port of the underlay bridge, as the hosts' are.
func (l *Lab) AddUnderlayNS(ctx context.Context, suffix, port, addr string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addHostNS(ctx, name, port, addr)
}
