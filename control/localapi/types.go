// Package localapi is the agent's local API: JSON over HTTP on a unix
// socket (mode 0600). The CLI reads status from it; the CNI plugin announces
// and withdraws endpoints through it. These types are the stable `-o json`
// output of vxbgpctl.
package localapi

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

// Endpoint is a local pod attachment.
type Endpoint struct {
	ContainerID string   `json:"containerID"`
	IfName      string   `json:"ifName"`            // inside the pod, e.g. eth0
	Network     string   `json:"network"`           // network name from the config
	HostIf      string   `json:"hostIf,omitempty"`  // host side of the veth
	MAC         string   `json:"mac"`               // pod interface MAC
	IPs         []string `json:"ips"`               // pod addresses, without prefix length
	Netns       string   `json:"netns,omitempty"`   // path of the pod's netns
	Chained     bool     `json:"chained,omitempty"` // attached by another plugin
}

// Status is `vxbgpctl status`.
type Status struct {
	NodeName         string `json:"nodeName"`
	Mode             string `json:"mode"`
	ASN              uint32 `json:"asn"`
	RouterID         string `json:"routerID"`
	VTEP             string `json:"vtep"`
	Networks         int    `json:"networks"`
	Peers            int    `json:"peers"`
	PeersEstablished int    `json:"peersEstablished"`
	Endpoints        int    `json:"endpoints"`
	RoutesReceived   int    `json:"routesReceived"`
	RoutesAdvertised int    `json:"routesAdvertised"`
	FDBEntries       int    `json:"fdbEntries"`
	FloodEntries     int    `json:"floodEntries"`
	NeighEntries     int    `json:"neighEntries"`
	Synced           bool   `json:"synced"` // every source reported; stale kernel entries are being removed
	Ready            bool   `json:"ready"`  // synced and the last reconcile pass succeeded: /readyz
	UptimeSeconds    int64  `json:"uptimeSeconds"`
	Version          string `json:"version"`
	// LastError is the reconciler's last error (its last pass failed, so the
	// kernel does not match yet; /readyz fails with it); omitted when none.
	LastError string `json:"lastError,omitempty"`
	// Families splits RoutesReceived and RoutesAdvertised by address family.
	Families []FamilyCount `json:"families,omitempty"`
}

// FamilyCount is one address family's share of `vxbgpctl routes`.
type FamilyCount struct {
	Family     string `json:"family"` // l2vpn-evpn, ipv4-unicast, ipv6-unicast
	Received   int    `json:"received"`
	Advertised int    `json:"advertised"`
}

// Peer is one BGP neighbour (`vxbgpctl peers`).
type Peer struct {
	Address       string `json:"address"`
	ASN           uint32 `json:"asn"`
	State         string `json:"state"` // idle, connect, active, opensent, openconfirm, established
	UptimeSeconds int64  `json:"uptimeSeconds"`
	Received      uint64 `json:"received"`
	Accepted      uint64 `json:"accepted"`
	Source        string `json:"source"` // static | discovered
	// Added later, so omitted when zero or empty: scripts written against
	// the fields above read the same bytes.
	Advertised uint64       `json:"advertised,omitempty"` // routes sent, all families
	Families   []PeerFamily `json:"families,omitempty"`   // sorted by family
	LastError  string       `json:"lastError,omitempty"`  // the last error that ended or refused the session
}

// PeerFamily is one address family of a session.
type PeerFamily struct {
	Family     string `json:"family"` // l2vpn-evpn, ipv4-unicast, ipv6-unicast
	Received   uint64 `json:"received"`
	Accepted   uint64 `json:"accepted"`
	Advertised uint64 `json:"advertised"`
}

// Route is one EVPN or unicast route (`vxbgpctl routes`).
type Route struct {
	Type    string `json:"type"` // type-2, type-3, ipv4, ipv6
	RD      string `json:"rd,omitempty"`
	MAC     string `json:"mac,omitempty"`
	IP      string `json:"ip,omitempty"` // type-2 IP, type-3 originator, or unicast prefix
	VNI     uint32 `json:"vni,omitempty"`
	NextHop string `json:"nextHop"`
	Source  string `json:"source"` // "local" or the peer's address
	Best    bool   `json:"best"`
	// EVPN details (`-o wide`), omitted when zero.
	Label  uint32 `json:"label,omitempty"`  // type-2: the MPLS label field, i.e. the VNI (RFC 8365); type-3: the PMSI tunnel's
	Seq    uint32 `json:"seq,omitempty"`    // type-2: MAC mobility sequence number (RFC 7432 15.1)
	Sticky bool   `json:"sticky,omitempty"` // type-2: a static MAC that must not move
}

// FDBEntry is one entry the agent programmed (`vxbgpctl fdb`).
type FDBEntry struct {
	Kind   string `json:"kind"` // mac, flood, neigh
	VNI    uint32 `json:"vni"`
	Device string `json:"device"`
	MAC    string `json:"mac,omitempty"`
	IP     string `json:"ip,omitempty"`   // neigh only
	VTEP   string `json:"vtep,omitempty"` // mac and flood only
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Key identifies an endpoint: one pod interface. The CNI runtime's
// (containerID, ifName) pair is unique per attachment.
func (e Endpoint) Key() string { return e.ContainerID + "/" + e.IfName }

// EndpointKey is Key for a DELETE, which carries no Endpoint.
func EndpointKey(containerID, ifName string) string { return containerID + "/" + ifName }

// FromEndpoint renders ep in the API's JSON form.
func FromEndpoint(ep endpoint.Endpoint) Endpoint {
	out := Endpoint{
		ContainerID: ep.ContainerID, IfName: ep.IfName, Network: ep.Network, HostIf: ep.HostIf,
		MAC: ep.MAC.String(), IPs: make([]string, 0, len(ep.IPs)), Netns: ep.Netns, Chained: ep.Chained,
	}
	for _, ip := range ep.IPs {
		out.IPs = append(out.IPs, ip.String())
	}
	return out
}

// Parse checks e and returns its typed form: the edge where the API's
// strings become values. Errors wrap ErrInvalid and name the field. An
// address may carry a prefix length ("10.244.1.5/16"), which is dropped.
func (e Endpoint) Parse() (endpoint.Endpoint, error) {
	if e.ContainerID == "" || e.IfName == "" || e.MAC == "" {
		return endpoint.Endpoint{}, fmt.Errorf("endpoint needs containerID, ifName and mac: %w", ErrInvalid)
	}
	mac, err := overlay.ParseMAC(e.MAC)
	if err != nil {
		return endpoint.Endpoint{}, fmt.Errorf("endpoint mac %q: %w: %w", e.MAC, ErrInvalid, err)
	}
	out := endpoint.Endpoint{
		ContainerID: e.ContainerID, IfName: e.IfName, Network: e.Network, HostIf: e.HostIf,
		MAC: mac, IPs: make([]netip.Addr, 0, len(e.IPs)), Netns: e.Netns, Chained: e.Chained,
	}
	for _, text := range e.IPs {
		ip, err := parseIP(text)
		if err != nil {
			return endpoint.Endpoint{}, fmt.Errorf("endpoint ip %q: %w: %w", text, ErrInvalid, err)
		}
		out.IPs = append(out.IPs, ip)
	}
	return out, nil
}

// parseIP accepts "10.0.0.5" and "10.0.0.5/24"; zones are refused.
func parseIP(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, err
		}
		return p.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(s)
	if err == nil && a.Zone() != "" {
		return netip.Addr{}, errors.New("zoned address")
	}
	return a.Unmap(), err
}

// FDBEntries lists what s holds of FDB, flood and neighbour entries, as
// `vxbgpctl fdb` shows them, sorted.
func FDBEntries(s overlay.State) []FDBEntry {
	dev := func(vni uint32) overlay.Device {
		if d, ok := s.Devices[vni]; ok {
			return d
		}
		return overlay.Device{Bridge: overlay.BridgeName(vni), VXLAN: overlay.VXLANName(vni)}
	}
	var out []FDBEntry
	for _, f := range s.FDB {
		out = append(out, FDBEntry{Kind: "mac", VNI: f.VNI, Device: dev(f.VNI).VXLAN, MAC: f.MAC.String(), VTEP: f.VTEP.String()})
	}
	for f := range s.Flood {
		out = append(out, FDBEntry{Kind: "flood", VNI: f.VNI, Device: dev(f.VNI).VXLAN, MAC: overlay.MAC{}.String(), VTEP: f.VTEP.String()})
	}
	for _, n := range s.Neigh {
		out = append(out, FDBEntry{Kind: "neigh", VNI: n.VNI, Device: dev(n.VNI).Bridge, MAC: n.MAC.String(), IP: n.IP.String()})
	}
	slices.SortFunc(out, func(x, y FDBEntry) int {
		return strings.Compare(x.Kind+x.Device+x.MAC+x.IP+x.VTEP, y.Kind+y.Device+y.MAC+y.IP+y.VTEP)
	})
	return out
}
