package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestFRRMD5: one routed host with bgp.peers[].passwordFile peers with four
// FRR routers: r1 and r2 have the same password, r3 and r4 another one.
// r1 and r3 are passive (only we dial), r2 and r4 listen on another port
// than the one we dial (only they dial us). r1 and r2 come up, one way
// each; r3 and r4 never do, seen from both sides, and the kernels counted
// the refused segments as MD5 failures (TcpExtTCPMD5Failure): it is the
// signature that keeps them down, not something else.
func TestFRRMD5(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	pwFile := filepath.Join(t.TempDir(), "md5")
	must(t, os.WriteFile(pwFile, []byte("right-Pa55\n"), 0o600))
	const otherPort = 1179
	l := newLab(t, ctx, lab.Options{
		Hosts: 1, Mode: modeRouted, NoMesh: true,
		HostASN: func(int) uint32 { return 64601 },
		Routers: []lab.RouterSpec{
			{Password: "right-Pa55", Passive: true},
			{Password: "right-Pa55", ListenPort: otherPort},
			{Password: "wrong-Pa55", Passive: true},
			{Password: "wrong-Pa55", ListenPort: otherPort},
		},
		Configure: func(h *lab.Host, c *lab.HostConfig) {
			for i := range c.BGP.Peers {
				c.BGP.Peers[i].PasswordFile = pwFile
			}
		},
	})
	h := l.Host(1)
	good, bad := l.Routers[:2], l.Routers[2:]
	start := time.Now()
	for _, r := range good {
		must(t, r.WaitEstablished(ctx, h.Addr))
	}
	t.Logf("TIMING: MD5 sessions with the right password up %v after the wait began", time.Since(start).Round(time.Millisecond))

	// Who dialled: r1 accepted on 179 (we dialled); r2 dialled our 179.
	s1, err := good[0].Sessions(ctx)
	must(t, err)
	if s := s1[h.Addr]; s.PortLocal != 179 {
		t.Errorf("%s (passive): session from port %d to %d, want ours to its 179", good[0].Name, s.PortForeign, s.PortLocal)
	}
	s2, err := good[1].Sessions(ctx)
	must(t, err)
	if s := s2[h.Addr]; s.PortForeign != 179 || s.PortLocal == otherPort {
		t.Errorf("%s (listens on %d): session from its port %d to our %d, want it dialling our 179", good[1].Name, otherPort, s.PortLocal, s.PortForeign)
	}

	// The wrong password: never up for 10 s after the good ones, on
	// either side, while both keep trying (we dial r3 every second, r4
	// dials us every second).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		peers, err := h.Peers(ctx)
		must(t, err)
		for _, p := range peers {
			for _, r := range bad {
				if p.Address == r.Addr && strings.EqualFold(p.State, "established") {
					t.Fatalf("%s: session with %s (wrong password) is established", h.Name, r.Name)
				}
			}
		}
		for _, r := range bad {
			ss, err := r.Sessions(ctx)
			must(t, err)
			if s := ss[h.Addr]; s.State == "Established" || s.Established > 0 {
				t.Fatalf("%s: session with %s (wrong password) came up: %+v", r.Name, h.Name, s)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The kernels dropped the segments for their signature: r3 our SYNs,
	// our host r4's.
	for _, c := range []struct{ ns, who string }{{bad[0].NS, bad[0].Name}, {h.NS, h.Name}} {
		n, err := md5Failures(ctx, c.ns)
		must(t, err)
		t.Logf("%s: TcpExtTCPMD5Failure %d", c.who, n)
		if n == 0 {
			t.Errorf("%s: no TCP MD5 failure counted: the wrong-password session is down for another reason", c.who)
		}
	}
	// The right ones are still up.
	for _, r := range good {
		must(t, r.WaitEstablished(ctx, h.Addr))
	}
}

// md5Failures is TcpExtTCPMD5Failure of ns: segments dropped for a wrong
// MD5 signature.
func md5Failures(ctx context.Context, ns string) (int, error) {
	out, err := lab.Exec(ctx, ns, "cat", "/proc/net/netstat")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(names) != len(vals) {
			continue
		}
		for j, n := range names {
			if n == "TCPMD5Failure" {
				return strconv.Atoi(vals[j])
			}
		}
	}
	return 0, fmt.Errorf("no TcpExt TCPMD5Failure in %s's /proc/net/netstat", ns)
}
