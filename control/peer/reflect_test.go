package peer

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// roleText renders peers as "address[R][c]": R a reflector, c an RR client.
func roleText(ps []Peer) string {
	var out []string
	for _, p := range ps {
		s := p.Address.String()
		if p.Reflector {
			s += "R"
		}
		if p.RRClient {
			s += "c"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestRoleSelect(t *testing.T) {
	hosts := []Peer{
		{Address: netip.MustParseAddr("10.0.0.2")},
		{Address: netip.MustParseAddr("10.0.0.3"), Reflector: true},
		{Address: netip.MustParseAddr("10.0.0.4")},
		{Address: netip.MustParseAddr("10.0.0.5"), Reflector: true},
	}
	for _, tc := range []struct {
		role Role
		want string
	}{
		{Role{Mesh: true}, "10.0.0.2 10.0.0.3R 10.0.0.4 10.0.0.5R"},                    // full mesh: everybody, nobody a client
		{Role{Mesh: false}, "10.0.0.3R 10.0.0.5R"},                                     // a client: the reflectors only
		{Role{Mesh: true, Reflector: true}, "10.0.0.2c 10.0.0.3R 10.0.0.4c 10.0.0.5R"}, // a reflector: clients, and the other reflectors as non-clients
		{Role{Mesh: false, Reflector: true}, "10.0.0.2c 10.0.0.3R 10.0.0.4c 10.0.0.5R"},
	} {
		t.Run(fmt.Sprintf("%+v", tc.role), func(t *testing.T) {
			if got := roleText(tc.role.Select(hosts)); got != tc.want {
				t.Errorf("Select = %q, want %q", got, tc.want)
			}
			if hosts[0].RRClient {
				t.Error("Select changed its input")
			}
		})
	}
	if got := (Role{}).Select(nil); len(got) != 0 {
		t.Errorf("Select(nil) = %v", got)
	}
}

// A Role wraps a fleet source: every set it publishes is selected; the
// static source is not wrapped, so its peers stay, reflector or not: a
// client peers with the static peer and the discovered reflector only.
func TestRoleOfSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sp := &speaker{}
	disc := &fakeSource{name: "discovered", publish: make(chan []Peer)}
	static := Static{p("10.0.0.254", 64512, "")}
	role := Role{Mesh: false}
	if role.Of(disc).Name() != "discovered" {
		t.Errorf("name %q", role.Of(disc).Name())
	}
	s := NewSet(sp, template, nil, static, role.Of(disc))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitText(t, sp, "10.0.0.254/64512/")
	r := p("10.0.0.3", 64512, "")
	r.Reflector = true
	disc.publish <- []Peer{p("10.0.0.2", 64512, ""), r}
	waitText(t, sp, "10.0.0.254/64512/ 10.0.0.3/64512/")
	if s.SourceOf(netip.MustParseAddr("10.0.0.3")) != "discovered" {
		t.Errorf("source of 10.0.0.3: %q", s.SourceOf(netip.MustParseAddr("10.0.0.3")))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
