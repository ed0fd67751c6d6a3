package evpn

import (
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// rxOf is p as the speaker's watch hands it to a Handler.Received: its NLRI
// and attributes in GoBGP's native form, read back from the wire bytes a
// peer would send.
func rxOf(t testing.TB, p *api.Path, neighbor string) bgp.RxPath {
	t.Helper()
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	nlri := &packet.EVPNNLRI{}
	if err := nlri.DecodeFromBytes(b); err != nil {
		t.Fatal(err)
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatal(err)
	}
	var wire []byte
	for _, a := range attrs {
		ab, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, ab...)
	}
	return bgp.RxPath{NLRI: nlri, Attrs: decodeAttrBytes(wire), Peer: neighbor, Withdraw: p.IsWithdraw}
}
