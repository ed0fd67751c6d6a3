package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/overlay"
)

// runEVPNSpeaker is the speaker's -evpn mode: a plain GoBGP server that
// holds n MAC-only type-2 routes back until it is told "go", then sends
// them all at once, as a route reflector or a switch dumps its table.
//
// Adding 100,000 paths through GoBGP's API takes it ~170 µs each (17 s):
// announced one by one, the sender would be what both receivers wait for.
// So the sessions come up ("established") with a global export policy
// that rejects everything, the paths are loaded on "load" ("loaded
// <duration>"), and on "go" the policy turns to accept and a soft reset
// out per peer sends the table in full UPDATEs ("sent <duration>").
func runEVPNSpeaker(ctx context.Context, asn uint32, id netip.Addr, peers []peerArg, vni uint32, n int, stdin io.Reader, stdout io.Writer) error {
	// Warnings and up, to stderr, which the bench passes through.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := gobgp.NewBgpServer(gobgp.LoggerOption(bgp.GoBGPLogger(log.With("lib", "gobgp", "speaker", id.String()))))
	go srv.Serve()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: id.String(), ListenPort: 179, ListenAddresses: []string{id.String()},
	}}); err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	defer func() { _ = srv.StopBgp(context.Background(), &api.StopBgpRequest{}) }()
	export := func(a api.RouteAction) error {
		return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name: "global", Direction: api.PolicyDirection_EXPORT, DefaultAction: a,
		}})
	}
	if err := export(api.RouteAction_REJECT); err != nil {
		return fmt.Errorf("hold routes back: %w", err)
	}
	fam := &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}
	for _, p := range peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: p.addr, PeerAsn: p.asn},
			Transport: &api.Transport{LocalAddress: id.String(), PassiveMode: true},
			Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 30, KeepaliveInterval: 10}},
			AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
		}}); err != nil {
			return fmt.Errorf("add peer %s: %w", p.addr, err)
		}
	}
	for {
		up := 0
		if err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
				up++
			}
		}); err != nil {
			return err
		}
		if up == len(peers) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(stdout, "established")

	add := func(p *api.Path) error {
		_, err := srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		return err
	}
	load := func() error {
		p, err := evpn.Type3(asn, id, 1, vni, id)
		if err != nil {
			return err
		}
		if err := add(p); err != nil {
			return err
		}
		for i := range n {
			mac := overlay.MAC{0x02, 0xe0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
			p, err := evpn.Type2(asn, id, 1, vni, id, mac, netip.Addr{})
			if err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
		}
		return nil
	}
	send := func() error {
		if err := export(api.RouteAction_ACCEPT); err != nil {
			return err
		}
		for _, p := range peers {
			if err := srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: p.addr, Soft: true, Direction: api.ResetPeerRequest_OUT}); err != nil {
				return fmt.Errorf("soft reset out %s: %w", p.addr, err)
			}
		}
		return nil
	}
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		start := time.Now()
		switch in.Text() {
		case "load": // untimed, and only when the bench is ready: it keeps a core busy
			if err := load(); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "loaded", time.Since(start))
		case "go":
			if err := send(); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "sent", time.Since(start))
		}
	}
	return in.Err()
}

type peerArg struct {
	addr string
	asn  uint32
}
