package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// FRRBridge is an FRR host's bridge and SVI, as in shared/notes/frr/RECIPE.md.
const FRRBridge = "br100"

// FRRHost is an FRR instance with an L2VNI (br100 + vxlan100) and a
// "server" namespace on br100. It peers iBGP l2vpn evpn with every vxbgp
// host and every other FRR host, with advertise-all-vni.
type FRRHost struct {
	*FRRInstance
	ServerMAC string // ServerIP is 10.244.(199+Index).10, in the pods' /16
}

func newFRRHost(l *Lab, j int) *FRRHost {
	f := &FRRHost{
		FRRInstance: newFRRInstance(l, fmt.Sprintf("f%d", j), j, fmt.Sprintf("%s%d", underlayPfx, 100+j), true),
		ServerMAC:   fmt.Sprintf("02:00:0a:f4:%02x:0a", 199+j),
	}
	f.ServerIP = fmt.Sprintf("10.244.%d.10", 199+j)
	return f
}

// setup builds the L2VNI and the server, writes the configs and starts
// zebra, then bgpd.
func (f *FRRHost) setup(ctx context.Context) error {
	if err := f.prepare(ctx); err != nil {
		return err
	}
	if err := ipBatch(ctx, f.NS, []string{
		"link add " + FRRBridge + " type bridge",
		fmt.Sprintf("link add %s type vxlan id %d local %s dstport 4789 nolearning dev eth0", VXLANDev, VNI, f.Addr),
		fmt.Sprintf("link set %s master %s", VXLANDev, FRRBridge),
		// Data-plane learning off: the control plane owns remote MACs.
		fmt.Sprintf("link set dev %s type bridge_slave learning off", VXLANDev),
		"link set " + VXLANDev + " up",
		"link set " + FRRBridge + " up",
		"link add s1 type veth peer name eth0 netns " + f.ServerNS,
		"link set s1 mtu 1450 master " + FRRBridge + " up",
	}); err != nil {
		return err
	}
	if err := ipBatch(ctx, f.ServerNS, []string{
		"link set eth0 address " + f.ServerMAC + " mtu 1450",
		fmt.Sprintf("addr add %s/16 dev eth0", f.ServerIP),
		"link set eth0 up",
	}); err != nil {
		return err
	}
	// A static entry makes zebra advertise the server at once; FRR ignores
	// permanent entries (RECIPE gotcha 2), and a learned one would wait for
	// the server's first packet.
	if _, err := Bridge(ctx, f.NS, "fdb", "add", f.ServerMAC, "dev", "s1", "master", "static"); err != nil {
		return fmt.Errorf("static fdb for server of %s: %w", f.Name, err)
	}
	if err := f.writeConfigs(ASN, "", f.peers(), f.addressFamily()); err != nil {
		return err
	}
	return f.start(ctx)
}

// addressFamily is bgpd.conf's l2vpn evpn block.
func (f *FRRHost) addressFamily() string {
	var b strings.Builder
	b.WriteString(" address-family l2vpn evpn\n")
	for _, p := range f.peers() {
		fmt.Fprintf(&b, "  neighbor %s activate\n", p.addr)
	}
	b.WriteString("  advertise-all-vni\n exit-address-family\n")
	return b.String()
}

// peers are every vxbgp host and every other FRR host, all iBGP.
func (f *FRRHost) peers() []frrPeer {
	var out []frrPeer
	for _, h := range f.lab.Hosts {
		out = append(out, frrPeer{h.Addr, ASN})
	}
	for _, o := range f.lab.FRR {
		if o != f {
			out = append(out, frrPeer{o.Addr, ASN})
		}
	}
	return out
}

// EVPNPrefixes returns every prefix of `show bgp l2vpn evpn json`, e.g.
// "[2]:[0]:[48]:[02:..]:[32]:[10.244.1.2]" and "[3]:[0]:[32]:[10.250.0.1]",
// mapped to their RD.
func (f *FRRHost) EVPNPrefixes(ctx context.Context) (map[string]string, error) {
	var top map[string]json.RawMessage
	if err := f.vtyshJSON(ctx, "show bgp l2vpn evpn json", &top); err != nil {
		return nil, err
	}
	out := map[string]string{}
	// Top-level keys are RDs (plus scalars such as routerId); under each RD
	// the keys are prefixes.
	for rd, raw := range top {
		var rdm map[string]json.RawMessage
		if json.Unmarshal(raw, &rdm) != nil {
			continue
		}
		for pfx := range rdm {
			if strings.HasPrefix(pfx, "[") {
				out[pfx] = rd
			}
		}
	}
	return out, nil
}

// Type2Prefix is FRR's text for a MAC+IP type-2 route (FRR prints MACs in
// lowercase; ip "" gives the MAC-only form).
func Type2Prefix(mac, ip string) string {
	s := "[2]:[0]:[48]:[" + strings.ToLower(mac) + "]"
	if ip != "" {
		s += ":[32]:[" + ip + "]"
	}
	return s
}

// Type3Prefix is FRR's text for a type-3 route of VTEP vtep.
func Type3Prefix(vtep string) string { return "[3]:[0]:[32]:[" + vtep + "]" }
