package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// command is one vxbgpctl command that asks the agent. bind registers its
// own flags (filters) on fs and returns what to run once fs is parsed.
//
// With -o json each prints the local API's value, stable:
//
//	status     localapi.Status     (an object)
//	peers      []localapi.Peer
//	routes     []localapi.Route
//	endpoints  []localapi.Endpoint
//	members    []localapi.Member   ([] when discovery is off; nodeName names each)
//	fdb        []localapi.FDBEntry
//	version    versionInfo         (an object)
//
// Lists are [] when empty, never null, also when a filter matched nothing.
type command struct {
	name     string
	synopsis string // its flags, for the usage line
	summary  string
	bind     func(fs *flag.FlagSet) action
}

type action func(ctx context.Context, e env) error

// commands lists vxbgpctl's commands in the order of its usage text.
func commands() []command {
	return []command{
		{"status", "", "mode, ASN, router ID, VTEP, counts per address family, the last reconcile error",
			func(*flag.FlagSet) action {
				return func(ctx context.Context, e env) error {
					st, err := e.client.Status(ctx)
					if err != nil {
						return err
					}
					return show(e.stdout, e.format, st, func(w io.Writer, _ bool) error { return statusTable(w, st) })
				}
			}},
		listing[localapi.Peer]{
			name: "peers", summary: "BGP peers (wide: one row per address family, with routes advertised, the peer's source and its last error)",
			fetch:  (*localapi.Client).Peers,
			header: []string{"ADDRESS", "ASN", "STATE", "UPTIME", "RECEIVED", "ACCEPTED"},
			wide:   []string{"ADDRESS", "ASN", "STATE", "UPTIME", "SOURCE", "FAMILY", "RECEIVED", "ACCEPTED", "ADVERTISED", "LAST ERROR"},
			rows:   peerRows,
		}.command(),
		listing[localapi.Route]{
			name: "routes", synopsis: " [--vni N] [--type 2|3|unicast] [--peer ADDR|local]",
			summary: "EVPN and unicast routes (wide: best, label, MAC mobility sequence, sticky, the NLRI as FRR prints it)",
			fetch:   (*localapi.Client).Routes,
			header:  []string{"TYPE", "RD", "MAC", "IP", "VNI", "NEXTHOP", "SOURCE"},
			wide:    []string{"TYPE", "RD", "MAC", "IP", "VNI", "NEXTHOP", "SOURCE", "BEST", "LABEL", "SEQ", "STICKY", "NLRI"},
			rows: func(r localapi.Route, wide bool) [][]string {
				row := []string{r.Type, r.RD, r.MAC, r.IP, vni(r.VNI), r.NextHop, r.Source}
				if wide {
					row = append(row, yesNo(r.Best), vni(r.Label), seq(r), yesNo(r.Sticky), frrPrefix(r))
				}
				return [][]string{cells(row...)}
			},
			filter: routeFilter,
		}.command(),
		listing[localapi.Endpoint]{
			name: "endpoints", synopsis: " [--network NAME]",
			summary: "local pods (table: the container ID's first 12 characters; wide: in full, with host interface, netns and chained)",
			fetch:   (*localapi.Client).Endpoints,
			header:  []string{"CONTAINER", "IFNAME", "MAC", "IP", "NETWORK"},
			wide:    []string{"CONTAINER", "IFNAME", "MAC", "IP", "NETWORK", "HOSTIF", "NETNS", "CHAINED"},
			rows: func(e localapi.Endpoint, wide bool) [][]string {
				id := e.ContainerID
				if !wide {
					id = id[:min(len(id), shortID)]
				}
				row := []string{id, e.IfName, e.MAC, strings.Join(e.IPs, ","), e.Network}
				if wide {
					row = append(row, e.HostIf, e.Netns, yesNo(e.Chained))
				}
				return [][]string{cells(row...)}
			},
			filter: endpointFilter,
		}.command(),
		// Discovery always lists this host, so no members means it is off.
		listing[localapi.Member]{
			name: "members", summary: "discovered hosts and their state (wide: the blocks each announces)",
			fetch:  (*localapi.Client).Members,
			header: []string{"NAME", "ADDRESS", "ASN", "MODE", "STATE", "MASKED", "SINCE"},
			wide:   []string{"NAME", "ADDRESS", "ASN", "MODE", "STATE", "MASKED", "SINCE", "BLOCKS"},
			rows: func(m localapi.Member, wide bool) [][]string {
				name := m.NodeName
				if m.Self {
					name += " (self)"
				}
				if m.Reflector {
					name += " (reflector)"
				}
				row := []string{name, m.Address, num(m.ASN), m.Mode, m.State, yesNo(m.Masked), uptime(m.SinceSeconds)}
				if wide {
					row = append(row, strings.Join(m.Blocks, ","))
				}
				return [][]string{cells(row...)}
			},
			ifEmpty: "discovery is off (no discovery.join configured): peers are the static bgp.peers only\n",
		}.command(),
		listing[localapi.FDBEntry]{
			name: "fdb", synopsis: " [--vni N]",
			summary: "what the agent programmed: MAC, flood and neighbour entries (wide: the same columns)",
			fetch:   (*localapi.Client).FDB,
			header:  []string{"KIND", "VNI", "DEVICE", "MAC", "IP", "VTEP"},
			rows: func(f localapi.FDBEntry, _ bool) [][]string {
				return [][]string{cells(f.Kind, vni(f.VNI), f.Device, f.MAC, f.IP, f.VTEP)}
			},
			filter: fdbFilter,
		}.command(),
		versionCommand(),
	}
}

// shortID is how much of a container ID the table shows, as docker ps does.
const shortID = 12

// listing is a command that prints a list: a table with a header and rows
// per element, or the list itself.
type listing[T any] struct {
	name, synopsis, summary string
	fetch                   func(*localapi.Client, context.Context) ([]T, error)
	header                  []string
	wide                    []string // the header with -o wide; nil: header
	rows                    func(v T, wide bool) [][]string
	// filter registers the command's filter flags on fs and returns what
	// keeps an element; nil: no filters.
	filter func(fs *flag.FlagSet) func(T) bool
	// ifEmpty, when set, replaces an empty table.
	ifEmpty string
}

func (l listing[T]) command() command {
	return command{l.name, l.synopsis, l.summary, func(fs *flag.FlagSet) action {
		keep := func(T) bool { return true }
		if l.filter != nil {
			keep = l.filter(fs)
		}
		return func(ctx context.Context, e env) error {
			list, err := l.fetch(e.client, ctx)
			if err != nil {
				return err
			}
			list = slices.DeleteFunc(list, func(v T) bool { return !keep(v) })
			if list == nil {
				list = []T{}
			}
			return show(e.stdout, e.format, list, func(w io.Writer, wide bool) error {
				if len(list) == 0 && l.ifEmpty != "" {
					_, err := io.WriteString(w, l.ifEmpty)
					return err
				}
				header := l.header
				if wide && l.wide != nil {
					header = l.wide
				}
				var rows [][]string
				for _, v := range list {
					rows = append(rows, l.rows(v, wide)...)
				}
				return writeTable(w, header, rows)
			})
		}
	}}
}

// peerRows is a peer's row; wide, one row per address family as `cilium
// bgp peers` lays them out, the peer's own columns on its first row only.
func peerRows(p localapi.Peer, wide bool) [][]string {
	if !wide {
		return [][]string{cells(p.Address, num(p.ASN), p.State, uptime(p.UptimeSeconds), num(p.Received), num(p.Accepted))}
	}
	first := cells(p.Address, num(p.ASN), p.State, uptime(p.UptimeSeconds), p.Source)
	if len(p.Families) == 0 {
		// Not established, or an agent too old to say: the totals.
		return [][]string{append(first, cells("", num(p.Received), num(p.Accepted), num(p.Advertised), p.LastError)...)}
	}
	var rows [][]string
	for i, f := range p.Families {
		// Continuation rows leave the peer's columns and its error blank.
		row, lastError := make([]string, len(first)), ""
		if i == 0 {
			row, lastError = first, cell(p.LastError)
		}
		rows = append(rows, append(row, cell(f.Family), num(f.Received), num(f.Accepted), num(f.Advertised), lastError))
	}
	return rows
}

// frrPrefix is r's NLRI the way vtysh's `show bgp l2vpn evpn` prints it,
// so the two can be compared by eye: [2]:[0]:[48]:[MAC]:[32]:[IP],
// [3]:[0]:[32]:[ORIGINATOR]; the Ethernet tag is always 0 (VLAN-based
// service). A unicast route is its prefix.
func frrPrefix(r localapi.Route) string {
	bits := func(ip string) string {
		if strings.Contains(ip, ":") {
			return "128"
		}
		return "32"
	}
	switch r.Type {
	case localapi.RouteType2:
		s := "[2]:[0]:[48]:[" + r.MAC + "]"
		if r.IP != "" {
			s += ":[" + bits(r.IP) + "]:[" + r.IP + "]"
		}
		return s
	case localapi.RouteType3:
		return "[3]:[0]:[" + bits(r.IP) + "]:[" + r.IP + "]"
	}
	return r.IP
}

// seq is a type-2's MAC mobility sequence number; "" for other types.
func seq(r localapi.Route) string {
	if r.Type != localapi.RouteType2 {
		return ""
	}
	return strconv.FormatUint(uint64(r.Seq), 10)
}

func statusTable(w io.Writer, st localapi.Status) error {
	synced := "yes"
	if !st.Synced {
		synced = "no (waiting for every source to report; stale kernel entries are kept)"
	}
	lastError := "none"
	if st.LastError != "" {
		lastError = st.LastError + " (retrying; not ready)"
	}
	rows := [][2]string{
		{"Node", st.NodeName},
		{"Mode", st.Mode},
		{"Version", st.Version},
		{"ASN", num(st.ASN)},
		{"Router ID", st.RouterID},
		{"VTEP", st.VTEP},
		{"Networks", strconv.Itoa(st.Networks)},
		{"Peers", fmt.Sprintf("%d (%d established)", st.Peers, st.PeersEstablished)},
		{"Endpoints", strconv.Itoa(st.Endpoints)},
		{"Routes", fmt.Sprintf("%d received, %d advertised", st.RoutesReceived, st.RoutesAdvertised)},
	}
	for _, f := range st.Families {
		rows = append(rows, [2]string{"  " + f.Family, fmt.Sprintf("%d received, %d advertised", f.Received, f.Advertised)})
	}
	rows = append(rows,
		[2]string{"FDB", fmt.Sprintf("%d MAC, %d flood, %d neighbour", st.FDBEntries, st.FloodEntries, st.NeighEntries)},
		[2]string{"Synced", synced},
		[2]string{"Last error", lastError},
		[2]string{"Uptime", uptime(st.UptimeSeconds)},
	)
	var lines [][]string
	for _, kv := range rows {
		lines = append(lines, []string{kv[0] + ":", cell(kv[1])})
	}
	return writeTable(w, nil, lines)
}
