package netlinkdp

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

func TestDumpRetriesInterrupted(t *testing.T) {
	other := errors.New("boom")
	for _, tc := range []struct {
		name      string
		results   []error // what each call returns, in turn
		wantCalls int
		wantErr   error
	}{
		{"clean", []error{nil}, 1, nil},
		{"interrupted twice", []error{netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, nil}, 3, nil},
		{"other error is not retried", []error{other}, 1, other},
		{"always interrupted", nil, dumpAttempts, netlink.ErrDumpInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			v, err := dump("test", func() (int, error) {
				calls++
				if calls <= len(tc.results) {
					return calls, tc.results[calls-1]
				}
				return calls, netlink.ErrDumpInterrupted
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && v != calls {
				t.Errorf("value %d is not the last call's (%d)", v, calls)
			}
			if err != nil && v != 0 {
				t.Errorf("value %d returned with an error (a partial dump must not be used)", v)
			}
		})
	}
}

// TestWatchChanged checks which link updates kick the reconciler.
func TestWatchChanged(t *testing.T) {
	d := &Dataplane{log: slog.New(slog.DiscardHandler)}
	link := func(name, alias string, mtu int, up bool) *netlink.Vxlan {
		a := netlink.NewLinkAttrs()
		a.Name, a.Alias, a.MTU, a.Index = name, alias, mtu, 7
		a.OperState = netlink.OperUnknown
		if up {
			a.Flags = net.FlagUp
		}
		return &netlink.Vxlan{LinkAttrs: a, VxlanId: 100, Port: 4789}
	}
	upd := func(typ uint16, l netlink.Link) netlink.LinkUpdate {
		u := netlink.LinkUpdate{Link: l}
		u.Header.Type = typ
		return u
	}
	// port is a bridge port's AF_BRIDGE message: no alias in it.
	port := func(l netlink.Link) netlink.LinkUpdate {
		u := upd(unix.RTM_NEWLINK, l)
		u.Family = unix.AF_BRIDGE
		return u
	}
	ours := link("vxlan100", "vxbgp:pods", 1450, true)
	// withProt is a port message of ours carrying bridge flags.
	withProt := func(learning, suppress bool) netlink.LinkUpdate {
		l := link("vxlan100", "", 1450, true)
		l.Protinfo = &netlink.Protinfo{Learning: learning, NeighSuppress: suppress}
		return port(l)
	}
	carrier := link("vxlan100", "vxbgp:pods", 1450, true)
	carrier.Flags |= net.FlagRunning // carrier alone, as on pod churn
	for _, tc := range []struct {
		name    string
		seen    map[int]string
		ports   map[int]string // port fingerprints recorded before
		update  netlink.LinkUpdate
		want    bool
		wantRec bool // the link is recorded afterwards
	}{
		{"foreign link", nil, nil, upd(unix.RTM_NEWLINK, link("eth0", "", 1500, true)), false, false},
		{"foreign link deleted", nil, nil, upd(unix.RTM_DELLINK, link("eth0", "", 1500, true)), false, false},
		{"new link of ours", nil, nil, upd(unix.RTM_NEWLINK, ours), true, true},
		{"unchanged", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_NEWLINK, ours), false, true},
		{"carrier flag only", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_NEWLINK, carrier), false, true},
		{"mtu changed", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_NEWLINK, link("vxlan100", "vxbgp:pods", 1400, true)), true, true},
		{"set down", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_NEWLINK, link("vxlan100", "vxbgp:pods", 1450, false)), true, true},
		{"alias removed", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_NEWLINK, link("vxlan100", "", 1450, true)), true, false},
		{"deleted", map[int]string{7: fingerprint(ours)}, nil, upd(unix.RTM_DELLINK, ours), true, false},
		{"port message of ours", map[int]string{7: fingerprint(ours)}, nil, port(link("vxlan100", "", 1450, true)), true, true},
		{"port message of ours repeated", map[int]string{7: fingerprint(ours)}, map[int]string{7: portFingerprint(withProt(false, true).Link)}, withProt(false, true), false, true},
		{"port flags changed", map[int]string{7: fingerprint(ours)}, map[int]string{7: portFingerprint(withProt(false, true).Link)}, withProt(true, true), true, true},
		{"port set down", map[int]string{7: fingerprint(ours)}, map[int]string{7: portFingerprint(port(link("vxlan100", "", 1450, true)).Link)}, port(link("vxlan100", "", 1450, false)), true, true},
		{"port message of a pod", nil, nil, port(link("veth1", "", 1450, true)), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen, ports := maps.Clone(tc.seen), maps.Clone(tc.ports)
			if seen == nil {
				seen = map[int]string{}
			}
			if ports == nil {
				ports = map[int]string{}
			}
			if got := d.changed(seen, ports, tc.update); got != tc.want {
				t.Errorf("changed = %v, want %v", got, tc.want)
			}
			if _, rec := seen[7]; rec != tc.wantRec {
				t.Errorf("recorded = %v, want %v", rec, tc.wantRec)
			}
		})
	}
}

// TestGARPFrame checks the gratuitous ARP byte by byte: Ethernet broadcast
// from the gateway MAC, an ARP request whose sender and target IP are the
// announced one and whose target MAC is zero, padded to 60 bytes.
func TestGARPFrame(t *testing.T) {
	for _, tc := range []struct {
		mac, ip, want string
	}{
		{"02:76:78:62:67:01", "10.244.2.2",
			"ffffffffffff" + "027678626701" + "0806" + // Ethernet
				"0001" + "0800" + "06" + "04" + "0001" + // ARP request, Ethernet/IPv4
				"027678626701" + "0af40202" + // sender
				"000000000000" + "0af40202" + // target
				"000000000000000000000000000000000000"}, // padding
	} {
		got := hex.EncodeToString(garpFrame(overlay.MustParseMAC(tc.mac), netip.MustParseAddr(tc.ip)))
		if got != tc.want {
			t.Errorf("garpFrame(%s, %s)\n got %s\nwant %s", tc.mac, tc.ip, got, tc.want)
		}
	}
	// In memory, htons's result is the big-endian bytes, whatever the host.
	if got := binary.NativeEndian.AppendUint16(nil, htons(unix.ETH_P_ARP)); hex.EncodeToString(got) != "0806" {
		t.Errorf("htons(0x0806) is % x in memory, want 08 06", got)
	}
}
