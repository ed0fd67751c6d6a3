package lab

import (
	"slices"
	"strings"
	"testing"
)

// These need no root: they pin what TestSIGKILL's exact comparison
// expects and how it reads the kernel's dumps.

func TestExpectedKernel(t *testing.T) {
	l := &Lab{opts: Options{Mode: "overlay"}}
	for i := 1; i <= 3; i++ {
		l.Hosts = append(l.Hosts, &Host{Name: "h" + string(rune('0'+i)), Index: i, Addr: hostAddr(i)})
	}
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	eps := []Located{
		{Name: "a", MAC: "02:00:00:00:01:01", IP: "10.244.1.2", Host: h1},
		{Name: "b", MAC: "02:00:00:00:03:01", IP: "10.244.3.2", Host: h3},
	}
	// All overlay: h2 has both remote endpoints and a flood entry per VTEP.
	got := l.ExpectedKernel(h2, Want{Endpoints: eps})
	want := []string{
		"fdb 00:00:00:00:00:00 dev vxlan100 dst 10.250.0.1 self",
		"fdb 00:00:00:00:00:00 dev vxlan100 dst 10.250.0.3 self",
		"fdb 02:00:00:00:01:01 dev vxlan100 dst 10.250.0.1 self extern_learn",
		"fdb 02:00:00:00:01:01 dev vxlan100 master vxbr100 extern_learn",
		"fdb 02:00:00:00:03:01 dev vxlan100 dst 10.250.0.3 self extern_learn",
		"fdb 02:00:00:00:03:01 dev vxlan100 master vxbr100 extern_learn",
		"link vxbr100",
		"link vxlan100",
		"neigh 10.244.1.2 dev vxbr100 lladdr 02:00:00:00:01:01 noarp",
		"neigh 10.244.3.2 dev vxbr100 lladdr 02:00:00:00:03:01 noarp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("all overlay, h2:\n got %s\nwant %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
	// h3 routed: h2 (overlay) routes h3's block and keeps h1's entries; h3
	// routes both blocks and has no tunnel.
	w := Want{Modes: map[*Host]string{h3: "routed"}, Endpoints: eps}
	got = l.ExpectedKernel(h2, w)
	want = []string{
		"fdb 00:00:00:00:00:00 dev vxlan100 dst 10.250.0.1 self",
		"fdb 02:00:00:00:01:01 dev vxlan100 dst 10.250.0.1 self extern_learn",
		"fdb 02:00:00:00:01:01 dev vxlan100 master vxbr100 extern_learn",
		"link vxbr100",
		"link vxlan100",
		"neigh 10.244.1.2 dev vxbr100 lladdr 02:00:00:00:01:01 noarp",
		"route 10.244.3.0/24 via 10.250.0.3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("h3 routed, h2:\n got %s\nwant %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
	got = l.ExpectedKernel(h3, w)
	want = []string{"link vxbr100", "route 10.244.1.0/24 via 10.250.0.1", "route 10.244.2.0/24 via 10.250.0.2"}
	if !slices.Equal(got, want) {
		t.Errorf("h3 routed, h3:\n got %s\nwant %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
}

func TestAgentLines(t *testing.T) {
	// bridge -j fdb show (every device), ip -j -4 neigh show and ip -j route
	// show proto 201, iproute2 6.1: the kernel's own entries (permanent port
	// MACs, multicast, a learnt ARP entry) are no lines.
	fdb, err := decodeFDB(`[{"mac":"33:33:00:00:00:01","ifname":"vxbr100","flags":["self"],"state":"permanent"},`+
		`{"mac":"6e:d9:fc:eb:ed:00","ifname":"vxlan100","flags":[],"master":"vxbr100","state":"permanent"},`+
		`{"mac":"02:00:00:00:02:01","ifname":"vxlan100","flags":["extern_learn"],"master":"vxbr100","state":""},`+
		`{"mac":"02:00:00:00:02:01","ifname":"vxlan100","dst":"10.250.0.2","flags":["self","extern_learn"],"state":""},`+
		`{"mac":"00:00:00:00:00:00","ifname":"vxlan100","dst":"10.250.0.2","flags":["self"],"state":"permanent"}]`, "")
	if err != nil {
		t.Fatal(err)
	}
	neigh, err := decodeNeighAll(`[{"dst":"10.244.2.2","dev":"vxbr100","lladdr":"02:00:00:00:02:01","extern_learn":null,"state":["NOARP"]},` +
		`{"dst":"10.250.0.2","dev":"eth0","lladdr":"aa:bb:cc:dd:ee:ff","state":["REACHABLE"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := decodeRoutes(`[{"dst":"10.244.3.0/24","gateway":"10.250.0.3","dev":"eth0"},` +
		`{"dst":"10.244.9.0/24","nexthops":[{"gateway":"10.250.0.9","dev":"eth0"},{"gateway":"10.250.0.8","dev":"eth0"}]}]`)
	if err != nil {
		t.Fatal(err)
	}
	lines := agentLines([]string{"vxbr100", "vxlan100"}, fdb, neigh, routes)
	want := []string{
		"fdb 00:00:00:00:00:00 dev vxlan100 dst 10.250.0.2 self",
		"fdb 02:00:00:00:02:01 dev vxlan100 dst 10.250.0.2 self extern_learn",
		"fdb 02:00:00:00:02:01 dev vxlan100 master vxbr100 extern_learn",
		"link vxbr100",
		"link vxlan100",
		"neigh 10.244.2.2 dev vxbr100 lladdr 02:00:00:00:02:01 noarp",
		"route 10.244.3.0/24 via 10.250.0.3",
		"route 10.244.9.0/24 via 10.250.0.8 10.250.0.9",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("lines:\n got %s\nwant %s", strings.Join(lines, "\n    "), strings.Join(want, "\n    "))
	}
}

func TestDiffLines(t *testing.T) {
	// Multisets: a flood entry twice where one is wanted is one extra.
	missing, extra := DiffLines([]string{"a", "b", "c"}, []string{"c", "b", "b", "d"})
	if !slices.Equal(missing, []string{"a"}) || !slices.Equal(extra, []string{"b", "d"}) {
		t.Errorf("missing %v extra %v, want [a] and [b d]", missing, extra)
	}
	if missing, extra := DiffLines(nil, nil); missing != nil || extra != nil {
		t.Errorf("empty: %v %v", missing, extra)
	}
}
