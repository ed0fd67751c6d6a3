package members

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/peer"
)

// published records what a peer source published, as text.
type published chan string

func (p published) publish(ps []peer.Peer) {
	var out []string
	for _, x := range ps {
		out = append(out, x.Name+"@"+x.Address.String())
	}
	p <- strings.Join(out, " ")
}

func (p published) want(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-p:
		if got != want {
			t.Fatalf("published %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing published, want %q", want)
	}
}

// The discovered peers are the members with our ASN, not ourselves: they
// follow joins and departures; a dead member stays a peer (it may be an
// agent restarting, whose routes graceful restart keeps); only changes are
// published.
func TestPeers(t *testing.T) {
	a := start(t, Config{Self: meta("a", 91)})
	src := a.Peers()
	if src.Name() != "discovered" {
		t.Errorf("Name() = %q", src.Name())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	pub := make(published, 10)
	go func() { done <- src.Run(ctx, pub.publish) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	pub.want(t, "") // at once, even alone

	b := start(t, Config{Self: meta("b", 92), Seeds: []string{a.seed()}})
	pub.want(t, "b@127.0.0.92")

	// Another ASN: a member, not a peer (eBGP is for bgp.peers).
	other := meta("c", 93)
	other.ASN, other.Mode = testASN+1, config.ModeRouted
	start(t, Config{Self: other, Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive c=alive", a)

	d := start(t, Config{Self: meta("d", 94), Seeds: []string{a.seed()}})
	pub.want(t, "b@127.0.0.92 d@127.0.0.94")

	b.stop(t)
	waitStates(t, "a=alive b=dead c=alive d=alive", a)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := d.Leave(ctx2); err != nil {
		t.Fatal(err)
	}
	pub.want(t, "b@127.0.0.92") // b dead but still a peer; d left
	waitStates(t, "a=alive b=dead c=alive d=left", a)
	select {
	case got := <-pub:
		t.Errorf("published %q again: no peer changed", got)
	default:
	}
}
