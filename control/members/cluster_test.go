package members

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Three hosts join through one seed and see each other as announced; one
// stops (an agent restart: no Leave) and the others see it dead within the
// tuned timings; it comes back in place and is alive again.
func TestClusterDeathAndReturn(t *testing.T) {
	a := start(t, Config{Self: meta("a", 11)})
	b := start(t, Config{Self: meta("b", 12), Seeds: []string{a.seed()}})
	c := start(t, Config{Self: meta("c", 13), Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive c=alive", a, b, c)
	for _, h := range []*host{a, b, c} {
		for i, m := range h.Members() {
			want := meta([]string{"a", "b", "c"}[i], 11+i)
			if !reflect.DeepEqual(m.Meta, want) {
				t.Errorf("%s sees %+v, want %+v", h.c.Self.Name, m.Meta, want)
			}
		}
	}

	port := c.Addr().Port()
	stopped := time.Now()
	c.stop(t)
	waitStates(t, "a=alive b=alive c=dead", a, b)
	took := time.Since(stopped)
	t.Logf("a stopped host was dead for every other within %s", took.Round(time.Millisecond))
	// The budget for a dead host to leave every kernel: memberlist
	// is most of it.
	if took > 3*time.Second {
		t.Errorf("death took %s, want under 3 s with DefaultTimings", took)
	}
	if m := a.Members()[2]; m.Since.Before(stopped) || m.Since.After(time.Now()) {
		t.Errorf("c dead since %s, stopped at %s", m.Since, stopped)
	}

	// The agent restarts in place: same name, address and port.
	c = start(t, Config{Self: meta("c", 13), BindPort: int(port), Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive c=alive", a, b, c)
}

// Leave is a departure: the others see Left, not Dead.
func TestLeave(t *testing.T) {
	a := start(t, Config{Self: meta("a", 21)})
	b := start(t, Config{Self: meta("b", 22), Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive", a, b)
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	if err := b.Leave(past); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Leave past its deadline: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitStates(t, "a=alive b=left", a)
	b.stop(t)
	if err := b.Leave(ctx); err == nil {
		t.Error("Leave after Run: no error")
	}
}

// A seed that is down at start is retried, with backoff, and joined once
// it is up; meanwhile the host runs alone.
func TestSeedDownAtStart(t *testing.T) {
	port := freePort(t, "127.0.0.31")
	b := start(t, Config{Self: meta("b", 32), Seeds: []string{"127.0.0.31:" + strconv.Itoa(port)}})
	waitFor(t, 5*time.Second, "b to say it is alone", func() bool {
		return b.log.has("serving alone", "127.0.0.31")
	})
	if got := b.states(); got != "b=alive" {
		t.Fatalf("b alone sees %s", got)
	}
	a := start(t, Config{Self: meta("a", 31), BindPort: port})
	waitStates(t, "a=alive b=alive", a, b)
}

// Two groups formed apart, each unable to reach the other's seed at first,
// merge at the next rejoin: what a healed partition does.
func TestPartitionHeals(t *testing.T) {
	portB := freePort(t, "127.0.0.43")
	a1 := start(t, Config{Self: meta("a1", 41), Seeds: []string{"127.0.0.43:" + strconv.Itoa(portB)}})
	a2 := start(t, Config{Self: meta("a2", 42), Seeds: []string{a1.seed()}})
	waitStates(t, "a1=alive a2=alive", a1, a2)
	// a1 has found its cluster: from now on only the rejoin, every
	// RejoinInterval, tries b1's address again.
	waitFor(t, 5*time.Second, "a1 to find its cluster", func() bool { return a1.log.has("joined the cluster") })
	b1 := start(t, Config{Self: meta("b1", 43), BindPort: portB})
	b2 := start(t, Config{Self: meta("b2", 44), Seeds: []string{b1.seed()}})
	waitStates(t, "a1=alive a2=alive b1=alive b2=alive", a1, a2, b1, b2)
}

// The whole fleet restarts (a power cut) and its seed stays down: the
// hosts that come back find each other through the members they
// remembered, where with the seed alone each would run by itself.
func TestRememberedMembers(t *testing.T) {
	dir := t.TempDir()
	slow := time.Minute
	file := func(name string) string { return filepath.Join(dir, name+".json") }
	ports := map[string]int{"b": freePort(t, "127.0.0.42"), "c": freePort(t, "127.0.0.43")}
	a := start(t, Config{Self: meta("a", 41), RejoinInterval: slow})
	seed := a.seed()
	b := start(t, Config{Self: meta("b", 42), BindPort: ports["b"], Seeds: []string{seed}, RejoinInterval: slow, Remember: file("b")})
	c := start(t, Config{Self: meta("c", 43), BindPort: ports["c"], Seeds: []string{seed}, RejoinInterval: slow, Remember: file("c")})
	waitStates(t, "a=alive b=alive c=alive", a, b, c)
	waitFor(t, 5*time.Second, "b and c remember each other", func() bool {
		gb, _ := os.ReadFile(file("b"))
		gc, _ := os.ReadFile(file("c"))
		return strings.Contains(string(gb), c.seed()) && strings.Contains(string(gc), b.seed())
	})
	a.stop(t)
	b.stop(t)
	c.stop(t)

	t0 := time.Now()
	b = start(t, Config{Self: meta("b", 42), BindPort: ports["b"], Seeds: []string{seed}, RejoinInterval: slow, Remember: file("b")})
	c = start(t, Config{Self: meta("c", 43), BindPort: ports["c"], Seeds: []string{seed}, RejoinInterval: slow, Remember: file("c")})
	waitFor(t, 5*time.Second, "b and c find each other without the seed", func() bool {
		return b.states() == "b=alive c=alive" && c.states() == "b=alive c=alive"
	})
	t.Logf("the fleet re-formed without its seed in %v", time.Since(t0).Round(time.Millisecond))
}

// A seed that restarts finds the cluster again at once, though the only
// seed it knows is itself: the others keep joining the members they saw
// die, so nobody waits for a rejoin (a minute here) to take it back. This
// is the host the others would keep masked meanwhile, although it is up.
func TestDeadSeedReturns(t *testing.T) {
	slow := time.Minute
	a := start(t, Config{Self: meta("a", 51), RejoinInterval: slow})
	b := start(t, Config{Self: meta("b", 52), Seeds: []string{a.seed()}, RejoinInterval: slow})
	c := start(t, Config{Self: meta("c", 53), Seeds: []string{a.seed()}, RejoinInterval: slow})
	waitStates(t, "a=alive b=alive c=alive", a, b, c)
	seed := a.Addr()
	a.stop(t)
	waitStates(t, "a=dead b=alive c=alive", b, c)

	back := time.Now()
	a = start(t, Config{Self: meta("a", 51), BindPort: int(seed.Port()), Seeds: []string{seed.String()}, RejoinInterval: slow})
	waitFor(t, 5*time.Second, "the others to find the restarted seed", func() bool {
		return b.states() == "a=alive b=alive c=alive" && c.states() == "a=alive b=alive c=alive" && a.states() == "a=alive b=alive c=alive"
	})
	t.Logf("restarted seed back for every member within %s", time.Since(back).Round(time.Millisecond))
}
