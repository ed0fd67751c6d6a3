package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// command is one vxbgpctl command: it fetches from the agent and prints
// either a table or, with -o json, the localapi value itself.
//
// The JSON output is stable: it is exactly the local API's answer,
// re-indented, with the types and field names of package localapi:
//
//	status     localapi.Status     (an object)
//	peers      []localapi.Peer
//	routes     []localapi.Route
//	endpoints  []localapi.Endpoint
//	members    []localapi.Member   ([] when discovery is off; nodeName names each)
//	fdb        []localapi.FDBEntry
//
// Lists are [] when empty, never null. Fields are only ever added.
type command struct {
	name string
	run  func(ctx context.Context, c *localapi.Client, w io.Writer, asJSON bool) error
}

// commands lists vxbgpctl's commands in the order of its usage text.
func commands() []command {
	return []command{
		{"status", func(ctx context.Context, c *localapi.Client, w io.Writer, asJSON bool) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(w, st)
			}
			return statusTable(w, st)
		}},
		listCommand("peers", (*localapi.Client).Peers,
			[]string{"ADDRESS", "ASN", "STATE", "UPTIME", "RECEIVED", "ACCEPTED"},
			func(p localapi.Peer) []string {
				return []string{p.Address, num(p.ASN), p.State, uptime(p.UptimeSeconds), num(p.Received), num(p.Accepted)}
			}, ""),
		listCommand("routes", (*localapi.Client).Routes,
			[]string{"TYPE", "RD", "MAC", "IP", "VNI", "NEXTHOP", "SOURCE"},
			func(r localapi.Route) []string {
				return []string{r.Type, r.RD, r.MAC, r.IP, vni(r.VNI), r.NextHop, r.Source}
			}, ""),
		listCommand("endpoints", (*localapi.Client).Endpoints,
			[]string{"CONTAINER", "IFNAME", "MAC", "IP", "NETWORK"},
			func(e localapi.Endpoint) []string {
				return []string{e.ContainerID, e.IfName, e.MAC, strings.Join(e.IPs, ","), e.Network}
			}, ""),
		// Discovery always lists this host, so no members means it is off.
		listCommand("members", (*localapi.Client).Members,
			[]string{"NAME", "ADDRESS", "ASN", "MODE", "STATE", "MASKED", "SINCE"},
			func(m localapi.Member) []string {
				name := m.NodeName
				if m.Self {
					name += " (self)"
				}
				return []string{name, m.Address, num(m.ASN), m.Mode, m.State, yesNo(m.Masked), uptime(m.SinceSeconds)}
			},
			"discovery is off (no discovery.join configured): peers are the static bgp.peers only\n"),
		listCommand("fdb", (*localapi.Client).FDB,
			[]string{"KIND", "VNI", "DEVICE", "MAC", "IP", "VTEP"},
			func(f localapi.FDBEntry) []string {
				return []string{f.Kind, vni(f.VNI), f.Device, f.MAC, f.IP, f.VTEP}
			}, ""),
	}
}

// listCommand is a command that prints a list as a table with header, one
// row per element. When the list is empty and ifEmpty is set, the table
// is replaced by that message.
func listCommand[T any](name string, fetch func(*localapi.Client, context.Context) ([]T, error),
	header []string, row func(T) []string, ifEmpty string) command {
	return command{name, func(ctx context.Context, c *localapi.Client, w io.Writer, asJSON bool) error {
		list, err := fetch(c, ctx)
		if err != nil {
			return err
		}
		if list == nil {
			list = []T{}
		}
		if asJSON {
			return writeJSON(w, list)
		}
		if len(list) == 0 && ifEmpty != "" {
			_, err := io.WriteString(w, ifEmpty)
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, v := range list {
			fmt.Fprintln(tw, strings.Join(cells(row(v)), "\t"))
		}
		return tw.Flush()
	}}
}

func statusTable(w io.Writer, st localapi.Status) error {
	synced := "yes"
	if !st.Synced {
		synced = "no (waiting for every source to report; stale kernel entries are kept)"
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, kv := range [][2]string{
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
		{"FDB", fmt.Sprintf("%d MAC, %d flood, %d neighbour", st.FDBEntries, st.FloodEntries, st.NeighEntries)},
		{"Synced", synced},
		{"Uptime", uptime(st.UptimeSeconds)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], cell(kv[1]))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// cells fills empty cells with "-", so every row has all its columns for
// awk and the eye.
func cells(row []string) []string {
	for i := range row {
		row[i] = cell(row[i])
	}
	return row
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func num[T uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

// vni formats a VNI; 0 means none (a unicast route, say) and shows as "-".
func vni(v uint32) string {
	if v == 0 {
		return ""
	}
	return num(v)
}

func uptime(s int64) string {
	if s <= 0 {
		return ""
	}
	return (time.Duration(s) * time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
