package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// SpeakerFlag, as the first argument of the bench binary, runs it as the
// BGP speaker that announces the routed-mode blocks: the harness starts it
// with `ip netns exec` in a namespace on the underlay, because GoBGP's
// sockets belong to whatever namespace its process is in.
const SpeakerFlag = "-bgp-speaker"

// RunSpeaker is the speaker process: it accepts a session from every
// -peers address:asn (IPv4 unicast, or l2vpn evpn with -evpn N) and prints
// "established" once all are up. Then, one command a line on stdin:
// "load" encodes the table (-n /28s cut from -within, or a type-3 and N
// MAC-only type-2 routes) and prints "loaded <duration> ..."; "go" writes
// the announcing UPDATEs to every peer at once and prints "sent
// <duration>"; "withdraw" writes the withdrawing ones and prints
// "withdrawn <duration>"; "go K" and "withdraw K" write to the K-th peer
// of -peers alone. It exits when stdin closes or a session fails.
func RunSpeaker(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	asn := fs.Uint("asn", 64999, "our ASN")
	id := fs.String("id", "", "router ID, listen address and next hop")
	peers := fs.String("peers", "", "address:asn,...")
	within := fs.String("within", "10.244.64.0/18", "prefix the announced /28s are cut from")
	n := fs.Int("n", 1000, "how many /28s to announce")
	evpnN := fs.Int("evpn", 0, "announce this many MAC-only type-2 routes (VNI -vni, VTEP -id) instead of /28s")
	vni := fs.Uint("vni", 100, "VNI of the type-2 routes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	family := bgp.RF_IPv4_UC
	if *evpnN > 0 {
		family = bgp.RF_EVPN
	}
	nh, err := netip.ParseAddr(*id)
	if err != nil {
		return err
	}
	var pas []peerArg
	for _, p := range strings.Split(*peers, ",") {
		a, s, ok := strings.Cut(p, ":")
		asn, err := strconv.ParseUint(s, 10, 32)
		if !ok || err != nil {
			return fmt.Errorf("peer %q: want address:asn", p)
		}
		pas = append(pas, peerArg{addr: a, asn: uint32(asn)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	sessions, err := acceptSessions(ctx, nh, uint32(*asn), pas, family)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "established")
	load := func(p peerArg) (wireTable, error) {
		ibgp := p.asn == uint32(*asn)
		if *evpnN > 0 {
			return evpnTable(*evpnN, nh, uint32(*asn), uint32(*vni), ibgp)
		}
		pfxs, err := cut(*within, 28, *n)
		if err != nil {
			return wireTable{}, err
		}
		return unicastTable(pfxs, nh, uint32(*asn), ibgp)
	}
	var tables []wireTable
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		for _, s := range sessions {
			if err := s.failed(); err != nil {
				return err
			}
		}
		start := time.Now()
		// "go K"/"withdraw K" write to the K-th peer of -peers alone.
		cmd, arg, one := strings.Cut(in.Text(), " ")
		only := -1
		if one {
			k, err := strconv.Atoi(arg)
			if err != nil || k < 0 || k >= len(sessions) {
				return fmt.Errorf("speaker: %q: want a peer index below %d", in.Text(), len(sessions))
			}
			only = k
		}
		switch cmd {
		case "load": // untimed, and only when the bench is ready: it keeps a core busy
			tables = nil
			for _, p := range pas {
				t, err := load(p)
				if err != nil {
					return err
				}
				tables = append(tables, t)
			}
			fmt.Fprintf(stdout, "loaded %v (%d UPDATEs, %d bytes per peer)\n", time.Since(start).Round(time.Millisecond), tables[0].updates, tables[0].bytes)
		case "go", "withdraw":
			if tables == nil {
				return fmt.Errorf("speaker: %q before load", cmd)
			}
			chunks := make([][][]byte, len(tables))
			for i, t := range tables {
				chunks[i] = t.announce
				if cmd == "withdraw" {
					chunks[i] = t.withdraw
				}
			}
			to := sessions
			if only >= 0 {
				to, chunks = to[only:only+1], chunks[only:only+1]
			}
			if err := writeAll(to, chunks); err != nil {
				return err
			}
			word := map[string]string{"go": "sent", "withdraw": "withdrawn"}[cmd]
			fmt.Fprintln(stdout, word, time.Since(start).Round(time.Microsecond))
		}
	}
	return in.Err()
}

type peerArg struct {
	addr string
	asn  uint32
}

// cut returns the first n subnets of length bits of within.
func cut(within string, bits, n int) ([]netip.Prefix, error) {
	w, err := netip.ParsePrefix(within)
	if err != nil || !w.Addr().Is4() || bits < w.Bits() || n > 1<<(bits-w.Bits()) {
		return nil, fmt.Errorf("cannot cut %d /%d from %q", n, bits, within)
	}
	base := w.Masked().Addr().As4()
	u := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	out := make([]netip.Prefix, n)
	for i := range out {
		v := u + uint32(i)<<(32-bits)
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
	}
	return out, nil
}

// speakerProc is a running speaker child.
type speakerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startSpeaker(ctx context.Context, self, ns string, args ...string) (*speakerProc, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, self, SpeakerFlag}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sp := &speakerProc{cmd: cmd, stdin: in, lines: make(chan string, 16)}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			sp.lines <- s.Text()
		}
		close(sp.lines)
	}()
	return sp, nil
}

// expect waits for a line starting with prefix.
func (s *speakerProc) expect(ctx context.Context, prefix string) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("speaker: waiting for %q: %w", prefix, ctx.Err())
		case l, ok := <-s.lines:
			if !ok {
				return "", errors.New("speaker exited before " + prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		}
	}
}

// stop closes stdin (the speaker exits) and kills it if it lingers.
// receiver is one daemon a speaker step waits for: name for errors, wait
// for when it holds n changes (a lab.Watch's WaitCount).
type receiver struct {
	name string
	wait func(ctx context.Context, n int) (time.Time, error)
}

// step gives the speaker a command ("go": write the table; "withdraw":
// withdraw it), waits for its answer (the line starting with answer), then
// until every receiver holds n changes. It returns the answer without its
// prefix and when each receiver was done, in order.
func (s *speakerProc) step(ctx context.Context, cmd, answer string, n int, rs ...receiver) (string, []time.Time, error) {
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		return "", nil, err
	}
	line, err := s.expect(ctx, answer)
	if err != nil {
		return "", nil, err
	}
	var done []time.Time
	for _, r := range rs {
		t, err := r.wait(ctx, n)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", r.name, err)
		}
		done = append(done, t)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, answer)), done, nil
}

func (s *speakerProc) stop() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
