package bgp

import "testing"

// A route-reflector client gets GoBGP's RouteReflector settings with the
// cluster ID; a change of either is a change GoBGP's UpdatePeer would
// ignore (reflectionChanged: the peer is re-added).
func TestAPIPeerRRClient(t *testing.T) {
	p, err := PeerConfig{Address: "10.0.0.2", ASN: 64512, RRClient: true, ClusterID: "10.255.0.1"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	rr := apiPeer(p, false).RouteReflector
	if rr == nil || !rr.RouteReflectorClient || rr.RouteReflectorClusterId != "10.255.0.1" {
		t.Errorf("RouteReflector = %+v", rr)
	}
	plain, _ := PeerConfig{Address: "10.0.0.2", ASN: 64512, ClusterID: "10.255.0.1"}.normalize()
	if apiPeer(plain, false).RouteReflector != nil || plain.ClusterID != "" {
		t.Errorf("a non-client: %+v, cluster ID %q", apiPeer(plain, false).RouteReflector, plain.ClusterID)
	}
	if !p.reflectionChanged(plain) || p.equal(plain) {
		t.Error("client to non-client is no change")
	}
	other := p
	other.ClusterID = "10.255.0.2"
	if !p.reflectionChanged(other) || p.reflectionChanged(p) || !p.equal(p) {
		t.Error("cluster ID change not seen, or a change seen in an equal config")
	}
	if _, err := (PeerConfig{Address: "10.0.0.2", ASN: 64512, RRClient: true, ClusterID: "fd00::1"}).normalize(); err == nil {
		t.Error("an IPv6 cluster ID normalized")
	}
}
