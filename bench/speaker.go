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

	"github.com/vxbgp/vxbgp/control/bgp"
)

// SpeakerFlag, as the first argument of the bench binary, runs it as the
// BGP speaker that announces the routed-mode blocks: the harness starts it
// with `ip netns exec` in a namespace on the underlay, because GoBGP's
// sockets belong to whatever namespace its process is in.
const SpeakerFlag = "-bgp-speaker"

// RunSpeaker is the speaker process: it peers (passively) with every
// -peers address:asn for IPv4 unicast, prints "established" once all
// sessions are up, announces the -n prefixes when it reads "go" on stdin,
// prints "added <duration>", and exits when stdin closes. With -evpn N it
// is the EVPN speaker of runEVPNSpeaker instead.
func RunSpeaker(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	asn := fs.Uint("asn", 64999, "our ASN")
	id := fs.String("id", "", "router ID and next hop")
	peers := fs.String("peers", "", "address:asn,...")
	within := fs.String("within", "10.244.64.0/18", "prefix the announced /28s are cut from")
	n := fs.Int("n", 1000, "how many /28s to announce")
	evpnN := fs.Int("evpn", 0, "announce this many MAC-only type-2 routes (VNI -vni, VTEP -id) instead of /28s")
	vni := fs.Uint("vni", 100, "VNI of the type-2 routes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	family := bgp.FamilyIPv4
	if *evpnN > 0 {
		family = bgp.FamilyEVPN
	}
	pfxs, err := cut(*within, 28, *n)
	if err != nil {
		return err
	}
	nh, err := netip.ParseAddr(*id)
	if err != nil {
		return err
	}
	var pcs []bgp.PeerConfig
	var pas []peerArg
	for _, p := range strings.Split(*peers, ",") {
		a, s, ok := strings.Cut(p, ":")
		asn, err := strconv.ParseUint(s, 10, 32)
		if !ok || err != nil {
			return fmt.Errorf("peer %q: want address:asn", p)
		}
		pcs = append(pcs, bgp.PeerConfig{Address: a, ASN: uint32(asn), Families: []string{family}, Passive: true})
		pas = append(pas, peerArg{addr: a, asn: uint32(asn)})
	}
	ctx := context.Background()
	if *evpnN > 0 {
		return runEVPNSpeaker(ctx, uint32(*asn), nh, pas, uint32(*vni), *evpnN, stdin, stdout)
	}
	sp, err := bgp.New(ctx, bgp.Config{ASN: uint32(*asn), RouterID: *id})
	if err != nil {
		return err
	}
	defer sp.Close()
	if err := sp.SetPeers(ctx, pcs); err != nil {
		return err
	}
	for {
		ps, err := sp.Peers(ctx)
		if err != nil {
			return err
		}
		up := 0
		for _, p := range ps {
			if p.State == "established" {
				up++
			}
		}
		if up == len(pcs) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(stdout, "established")
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		if in.Text() != "go" {
			continue
		}
		start := time.Now()
		for _, p := range pfxs {
			if err := sp.AddUnicast(ctx, p, nh); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, "added", time.Since(start))
	}
	return nil
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
