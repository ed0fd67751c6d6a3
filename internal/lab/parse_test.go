package lab

import (
	"strings"
	"testing"
	"time"
)

// These tests need no root: they pin the parsing of iproute2's and the CNI
// plugin's output, which the scenarios rely on.

func TestDecodeFDB(t *testing.T) {
	// bridge -j fdb show dev vxlan100, iproute2 6.1, with the entries the
	// agent programs (RECIPE.md §4).
	out := `[{"mac":"02:00:00:00:02:01","flags":["extern_learn"],"master":"vxbr100","state":""},` +
		`{"mac":"6e:d9:fc:eb:ed:00","flags":[],"master":"vxbr100","state":"permanent"},` +
		`{"mac":"02:00:00:00:02:01","dst":"10.250.0.2","flags":["self","extern_learn"],"state":""},` +
		`{"mac":"00:00:00:00:00:00","dst":"10.250.0.2","flags":["self"],"state":"permanent"}]`
	list, err := decodeFDB(out, "vxlan100")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := RemoteEntry(list, "02:00:00:00:02:01", "10.250.0.2")
	if !ok || !e.Has("extern_learn") || e.Dev != "vxlan100" {
		t.Errorf("remote entry: %v %v", e, ok)
	}
	if got := FloodDsts(list); len(got) != 1 || got[0] != "10.250.0.2" {
		t.Errorf("flood dsts %v", got)
	}
	if got := len(FindFDB(list, "02:00:00:00:02:01")); got != 2 {
		t.Errorf("%d entries for the remote MAC, want self + master", got)
	}
	if list, err := decodeFDB("\n", "vxlan100"); err != nil || len(list) != 0 {
		t.Errorf("empty output: %v %v", list, err)
	}
}

func TestDecodeNeigh(t *testing.T) {
	out := `[{"dst":"10.244.2.2","lladdr":"02:00:00:00:02:01","extern_learn":null,"state":["NOARP"]},` +
		`{"dst":"10.244.1.5","lladdr":"02:00:00:00:01:05","state":["REACHABLE"]}]`
	list, err := decodeNeigh(out, "vxbr100")
	if err != nil {
		t.Fatal(err)
	}
	n, ok := FindNeigh(list, "10.244.2.2")
	if !ok || !n.ExternLearn || !n.HasState("noarp") || n.LLAddr != "02:00:00:00:02:01" {
		t.Errorf("neigh %v %v", n, ok)
	}
	if n, _ := FindNeigh(list, "10.244.1.5"); n.ExternLearn {
		t.Errorf("extern_learn on %v", n)
	}
}

func TestParseCNIResult(t *testing.T) {
	// What vxbgp-cni printed for a pod (CNI 1.1.0).
	out := `{"cniVersion":"1.1.0","interfaces":[{"mac":"7a:69:5b:4b:ee:03","name":"vxbd743707ee93"},` +
		`{"mac":"62:91:64:6c:c0:c5","name":"eth0","sandbox":"/run/netns/vx7fbb-h1p1"}],` +
		`"ips":[{"address":"10.244.1.1/16","gateway":"10.244.0.1","interface":1}],` +
		`"routes":[{"dst":"0.0.0.0/0","gw":"10.244.0.1"}]}`
	p := &Pod{Name: "h1p1", IfName: "eth0"}
	if err := p.parseResult([]byte(out)); err != nil {
		t.Fatal(err)
	}
	if p.IP.String() != "10.244.1.1" || p.Prefix.Bits() != 16 || p.MAC != "62:91:64:6c:c0:c5" || p.Gateway != "10.244.0.1" {
		t.Errorf("parsed %+v", p)
	}
	if err := (&Pod{Name: "x"}).parseResult([]byte(`{"cniVersion":"1.1.0","ips":[]}`)); err == nil {
		t.Error("a result without an address was accepted")
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]string{
		"vx1a2b-h1": "vx1a2b", "vx1a2b-h1p1": "vx1a2b", "vx1a2b-f1s": "vx1a2b",
		"vxdp3cda18": "", "vx1a2b": "", "vxzzzz-h1": "", "vx1a2b3-h1": "",
	} {
		got := ""
		if m := nsPattern.FindStringSubmatch(name); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("run of namespace %q = %q, want %q", name, got, want)
		}
	}
}

func TestMatrixString(t *testing.T) {
	a, b := fakeEP{"h1p1", "10.244.1.1"}, fakeEP{"h2p1", "10.244.2.1"}
	m := &Matrix{Endpoints: []Endpoint{a, b}, OK: map[[2]int]bool{{0, 1}: true, {1, 0}: false}, Took: time.Second}
	s := m.String()
	if !strings.Contains(s, "OK") || !strings.Contains(s, "FAIL") || !strings.Contains(s, "1/2 pairs OK") {
		t.Errorf("matrix:\n%s", s)
	}
	if f := m.Failed(); len(f) != 1 || !strings.HasPrefix(f[0], "h2p1->h1p1") {
		t.Errorf("failed %v", f)
	}
}

type fakeEP struct{ label, addr string }

func (f fakeEP) Label() string { return f.label }
func (f fakeEP) Netns() string { return "" }
func (f fakeEP) Addr() string  { return f.addr }
