package members

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is memberlist's (and Serf's) gossip port, TCP and UDP.
const DefaultPort = 7946

// Config configures a Discovery.
type Config struct {
	Self     Meta     // what this host announces; Self.Addr is also the gossip address
	BindPort int      // TCP and UDP; 0: a free port (tests; see Discovery.Addr)
	Seeds    []string // host or host:port (default port: BindPort, or DefaultPort if 0)
	// Keys is the gossip keyring (see LoadKeys): the first encrypts, all
	// decrypt. nil: plaintext, and a host with a key cannot join.
	Keys    [][]byte
	Timings Timings // zero fields take DefaultTimings'
	// RejoinInterval: how often the seeds are joined again once this host
	// has found the cluster, so that the halves of a healed partition
	// merge. Default 30 s.
	RejoinInterval time.Duration
	// ForgetAfter: how long a dead or departed member stays in Members, so
	// the agent can tell a dead host's routes from a live one's. Default
	// 1 h: long after BGP has dropped them, even those a static peer's
	// graceful restart keeps (bgp.gracefulRestartTime, 120 s by default).
	ForgetAfter time.Duration
	// Remember, if set, is a file where the addresses of the alive members
	// are kept (rewritten when they change) and read at start: a host
	// restarts joining them as well as the seeds. Without it, a seed that
	// restarts knows nobody but itself until another member's rejoin
	// (RejoinInterval) finds it, and peers with nobody meanwhile.
	Remember string
	Logger   *slog.Logger
}

// Timings are memberlist's failure-detection knobs. A member probes one
// other every ProbeInterval (round robin); without an answer within
// ProbeTimeout it asks three others to probe too, until the interval
// ends; then the target is suspect, and dead once a suspicion timeout of
// SuspicionMult × max(1, log10(N)) × ProbeInterval runs out (memberlist
// starts it at SuspicionMaxTimeoutMult times that and shortens it as other
// members confirm the suspicion).
type Timings struct {
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	// GossipInterval: how often news (joins, deaths) is sent to 3 random
	// members besides what rides on probes.
	GossipInterval time.Duration
	// PushPullInterval: full state exchange with one random member, which
	// repairs what gossip missed (memberlist stretches it past 32 members).
	PushPullInterval time.Duration
	// TCPTimeout bounds a join's or push/pull's connection, and so how long
	// an unreachable seed delays Run's return.
	TCPTimeout time.Duration
}

// DefaultTimings: 300 ms probes, 150 ms to answer (a LAN answers in under
// 1 ms; the rest is for a busy host), suspicion 2 × 300 ms × log10 of the
// cluster size. A multiplier of 2 also means memberlist expects no
// confirmation from other members (it expects SuspicionMult − 2), so the
// suspicion runs its short timeout from the start: with 3, a suspicion
// waits 4× longer until a second member independently fails to reach the
// host, which on a busy 2-core lab of 20 agents once took 2.8 s. A false
// death costs little: the agent confirms a death with a probe of its own
// before it acts (control/mask). Measured (members in one process on a
// 2-core machine, until the last of them saw a stopped one dead): 20
// members 1.2–1.9 s (median 1.4 s; 1.6–2.0 s with 3), 100 members
// 1.7–1.9 s; memberlist's DefaultLANConfig takes 5–14 s. The cost is a
// ping and its ack per member every 300 ms, plus gossip only when there is
// news.
func DefaultTimings() Timings {
	return Timings{
		ProbeInterval:           300 * time.Millisecond,
		ProbeTimeout:            150 * time.Millisecond,
		SuspicionMult:           2,
		SuspicionMaxTimeoutMult: 4,
		GossipInterval:          100 * time.Millisecond,
		PushPullInterval:        15 * time.Second,
		TCPTimeout:              2 * time.Second,
	}
}

// Defaults of Config.
const (
	DefaultRejoinInterval = 30 * time.Second
	DefaultForgetAfter    = time.Hour
)

// withDefaults fills the zero fields.
func (t Timings) withDefaults() Timings {
	d := DefaultTimings()
	set(&t.ProbeInterval, d.ProbeInterval)
	set(&t.ProbeTimeout, d.ProbeTimeout)
	set(&t.SuspicionMult, d.SuspicionMult)
	set(&t.SuspicionMaxTimeoutMult, d.SuspicionMaxTimeoutMult)
	set(&t.GossipInterval, d.GossipInterval)
	set(&t.PushPullInterval, d.PushPullInterval)
	set(&t.TCPTimeout, d.TCPTimeout)
	return t
}

func set[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (t Timings) check() error {
	switch {
	case t.ProbeInterval < 0, t.ProbeTimeout < 0, t.GossipInterval < 0, t.PushPullInterval < 0, t.TCPTimeout < 0,
		t.SuspicionMult < 0, t.SuspicionMaxTimeoutMult < 0:
		return fmt.Errorf("gossip timings: negative: %+v", t)
	case t.ProbeTimeout >= t.ProbeInterval:
		return fmt.Errorf("gossip timings: probe timeout %s must be shorter than the probe interval %s", t.ProbeTimeout, t.ProbeInterval)
	}
	return nil
}

// check validates c and fills its defaults.
func (c *Config) check() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := c.Self.validate(); err != nil {
		return fmt.Errorf("member %s: %w", c.Self.Name, err)
	}
	if err := c.Self.checkSize(); err != nil {
		return err
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("gossip port %d: must be 0..65535", c.BindPort)
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("gossip key %d: %w", i+1, err)
		}
	}
	c.Timings = c.Timings.withDefaults()
	if err := c.Timings.check(); err != nil {
		return err
	}
	set(&c.RejoinInterval, DefaultRejoinInterval)
	set(&c.ForgetAfter, DefaultForgetAfter)
	if c.RejoinInterval < minJoinRetry {
		return fmt.Errorf("rejoin interval %s: must be at least %s", c.RejoinInterval, minJoinRetry)
	}
	if c.ForgetAfter < 0 {
		return fmt.Errorf("forget after %s: must not be negative", c.ForgetAfter)
	}
	port := c.BindPort
	set(&port, DefaultPort)
	seeds := make([]string, 0, len(c.Seeds))
	for _, s := range c.Seeds {
		hp, err := seedAddr(s, port)
		if err != nil {
			return err
		}
		seeds = append(seeds, hp)
	}
	c.Seeds = seeds
	return nil
}

// seedAddr gives a seed its port: memberlist's own default would be our
// BindPort, which is 0 in tests.
func seedAddr(s string, port int) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), strconv.Itoa(port)), nil
	}
	if !strings.Contains(s, ":") {
		if s == "" {
			return "", errors.New("seed \"\": must be a host or host:port")
		}
		return net.JoinHostPort(s, strconv.Itoa(port)), nil
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", fmt.Errorf("seed %q: must be a host or host:port", s)
	}
	if _, err := strconv.ParseUint(p, 10, 16); err != nil {
		return "", fmt.Errorf("seed %q: port must be 0..65535", s)
	}
	return s, nil
}
