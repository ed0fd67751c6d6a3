package members

import (
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/config"
)

// The agent passes the config's discovery timings; a zero Timings field
// means the same defaults.
func TestDefaultsMatchConfig(t *testing.T) {
	c, d := config.Default().Discovery, DefaultTimings()
	if c.ProbeInterval != d.ProbeInterval || c.ProbeTimeout != d.ProbeTimeout || c.SuspicionMult != d.SuspicionMult {
		t.Errorf("config defaults %v/%v/%d, members defaults %v/%v/%d",
			c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult, d.ProbeInterval, d.ProbeTimeout, d.SuspicionMult)
	}
	if c.RejoinInterval != DefaultRejoinInterval || c.BindPort != DefaultPort {
		t.Errorf("config rejoin %v port %d, members %v %d", c.RejoinInterval, c.BindPort, DefaultRejoinInterval, DefaultPort)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"bad self", func(c *Config) { c.Self.ASN = 0 }, "member a: ASN 0"},
		{"port", func(c *Config) { c.BindPort = 65536 }, "gossip port 65536: must be 0..65535"},
		{"key length", func(c *Config) { c.Keys = [][]byte{key(1, 16), key(1, 17)} }, "gossip key 2: key size must be 16, 24 or 32 bytes"},
		{"probe timeout", func(c *Config) { c.Timings.ProbeTimeout = time.Second },
			"probe timeout 1s must be shorter than the probe interval 300ms"},
		{"negative timing", func(c *Config) { c.Timings.GossipInterval = -1 }, "gossip timings: negative"},
		{"rejoin", func(c *Config) { c.RejoinInterval = time.Millisecond }, "rejoin interval 1ms: must be at least 500ms"},
		{"forget", func(c *Config) { c.ForgetAfter = -time.Second }, "forget after -1s: must not be negative"},
		{"empty seed", func(c *Config) { c.Seeds = []string{""} }, `seed "": must be a host or host:port`},
		{"seed with a bad port", func(c *Config) { c.Seeds = []string{"a:gossip"} }, `seed "a:gossip": port must be 0..65535`},
		{"seed with colons", func(c *Config) { c.Seeds = []string{"a:b:c"} }, `seed "a:b:c": must be a host or host:port`},
		{"seed without host", func(c *Config) { c.Seeds = []string{":7946"} }, `seed ":7946": must be a host or host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Self: meta("a", 1)}
			tc.edit(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSeeds(t *testing.T) {
	for _, tc := range []struct {
		port  int
		seeds []string
		want  string
	}{
		{0, []string{"10.0.0.2", "host-b", "host-c:8000", "fd00::2", "[fd00::3]:8000"},
			"10.0.0.2:7946 host-b:7946 host-c:8000 [fd00::2]:7946 [fd00::3]:8000"},
		{7000, []string{"10.0.0.2", "host-b.example.com"}, "10.0.0.2:7000 host-b.example.com:7000"},
	} {
		d, err := New(Config{Self: meta("a", 1), BindPort: tc.port, Seeds: tc.seeds})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(d.c.Seeds, " "); got != tc.want {
			t.Errorf("seeds %v port %d: %s, want %s", tc.seeds, tc.port, got, tc.want)
		}
	}
}

// Before Run, a Discovery knows itself, has no address, and cannot leave.
func TestBeforeRun(t *testing.T) {
	d, err := New(Config{Self: meta("a", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if ms := d.Members(); len(ms) != 1 || ms[0].Name != "a" || ms[0].State != Alive {
		t.Errorf("Members() = %+v", ms)
	}
	if d.Addr().IsValid() {
		t.Errorf("Addr() = %s", d.Addr())
	}
	if err := d.Leave(t.Context()); err == nil {
		t.Error("Leave before Run: no error")
	}
}
