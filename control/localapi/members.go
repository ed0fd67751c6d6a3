package localapi

import (
	"context"
	"net/http"
)

// Member is one host found by discovery (`vxbgpctl members`). When
// discovery is on the list always holds this host itself, so an empty list
// means discovery is off (no discovery.join configured).
type Member struct {
	NodeName     string   `json:"nodeName"`
	Address      string   `json:"address"` // its underlay address: VTEP, BGP address
	ASN          uint32   `json:"asn"`
	Mode         string   `json:"mode"`             // overlay or routed
	Blocks       []string `json:"blocks,omitempty"` // the blocks it announces
	State        string   `json:"state"`            // alive, suspect, dead, left
	Masked       bool     `json:"masked"`           // kept out of this host's data path (found dead)
	SinceSeconds int64    `json:"sinceSeconds"`     // how long it has been in State
	Self         bool     `json:"self,omitempty"`   // this host
	// Reflector: the member announces itself as a route reflector
	// (bgp.routeReflector.enabled).
	Reflector bool `json:"reflector,omitempty"`
}

// Members is GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var m []Member
	err := c.do(ctx, http.MethodGet, "/v1/members", nil, &m)
	return m, err
}
