package bgp

import (
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
)

func TestPeerConfigNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      PeerConfig
		want    PeerConfig
		wantErr string
	}{
		{
			name: "defaults",
			in:   PeerConfig{Address: "10.0.0.2", ASN: 64512},
			want: PeerConfig{Address: "10.0.0.2", ASN: 64512, HoldTime: 9, GRTime: 120, Families: []string{"evpn"}, MaxPrefixes: DefaultMaxPrefixes},
		},
		{
			name: "canonical addresses and deduplicated families",
			in:   PeerConfig{Address: "2001:DB8::0:1", ASN: 65001, LocalAddress: "2001:db8:0::2", Families: []string{"ipv6", "evpn", "ipv6"}, HoldTime: 30, GRTime: 300, Port: 1179},
			want: PeerConfig{Address: "2001:db8::1", ASN: 65001, LocalAddress: "2001:db8::2", Families: []string{"ipv6", "evpn"}, HoldTime: 30, GRTime: 300, Port: 1179, MaxPrefixes: DefaultMaxPrefixes},
		},
		{name: "bad address", in: PeerConfig{Address: "host-a", ASN: 1}, wantErr: `peer address "host-a"`},
		{name: "zero asn", in: PeerConfig{Address: "10.0.0.2"}, wantErr: "asn: must not be 0"},
		{name: "bad local address", in: PeerConfig{Address: "10.0.0.2", ASN: 1, LocalAddress: "x"}, wantErr: `local address "x"`},
		{name: "hold time too small", in: PeerConfig{Address: "10.0.0.2", ASN: 1, HoldTime: 2}, wantErr: "hold time 2"},
		{name: "gr time too large", in: PeerConfig{Address: "10.0.0.2", ASN: 1, GRTime: 5000}, wantErr: "graceful restart time 5000"},
		{name: "unknown family", in: PeerConfig{Address: "10.0.0.2", ASN: 1, Families: []string{"vpnv4"}}, wantErr: `address family "vpnv4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.equal(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAPIPeer(t *testing.T) {
	p, err := PeerConfig{Address: "10.0.0.2", ASN: 64512, Password: "s3cr3t", Port: 1179, LocalAddress: "10.0.0.1",
		HoldTime: 30, Families: []string{"evpn", "ipv4"}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	for _, restarting := range []bool{false, true} {
		a := apiPeer(p, restarting)
		checks := []struct {
			what      string
			got, want any
		}{
			{"neighbor", a.Conf.NeighborAddress, "10.0.0.2"},
			{"asn", a.Conf.PeerAsn, uint32(64512)},
			{"md5", a.Conf.AuthPassword, "s3cr3t"},
			{"remote port", a.Transport.RemotePort, uint32(1179)},
			{"local address", a.Transport.LocalAddress, "10.0.0.1"},
			{"hold", a.Timers.Config.HoldTime, uint64(30)},
			{"keepalive", a.Timers.Config.KeepaliveInterval, uint64(10)},
			{"connect retry", a.Timers.Config.ConnectRetry, uint64(connectRetry)},
			{"gr", a.GracefulRestart.Enabled, true},
			{"gr time", a.GracefulRestart.RestartTime, uint32(120)},
			{"n bit", a.GracefulRestart.NotificationEnabled, true},
			{"deferral", a.GracefulRestart.DeferralTime, uint32(deferralTime)},
			{"local restarting", a.GracefulRestart.LocalRestarting, restarting},
			{"families", len(a.AfiSafis), 2},
			{"evpn", a.AfiSafis[0].Config.Family.Safi, api.Family_SAFI_EVPN},
			{"ipv4", a.AfiSafis[1].Config.Family.Afi, api.Family_AFI_IP},
			{"per-afi gr evpn", a.AfiSafis[0].MpGracefulRestart.Config.Enabled, true},
			{"per-afi gr ipv4", a.AfiSafis[1].MpGracefulRestart.Config.Enabled, true},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("restarting=%v %s: got %v, want %v", restarting, c.what, c.got, c.want)
			}
		}
	}
}

func TestSessionStateNames(t *testing.T) {
	for s, want := range map[api.PeerState_SessionState]string{
		api.PeerState_UNKNOWN: "idle", api.PeerState_IDLE: "idle", api.PeerState_CONNECT: "connect",
		api.PeerState_ACTIVE: "active", api.PeerState_OPENSENT: "opensent",
		api.PeerState_OPENCONFIRM: "openconfirm", api.PeerState_ESTABLISHED: "established",
	} {
		if got := sessionState(s); got != want {
			t.Errorf("%v: %q, want %q", s, got, want)
		}
	}
}
