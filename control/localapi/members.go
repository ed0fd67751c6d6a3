package localapi

import (
	"context"
	"net/http"
)

// Member is one host found by discovery (`vxbgpctl members`). When
// discovery is on the list always holds this host itself, so an empty list
// means discovery is off (no discovery.join configured).
type Member struct {
	Name    string `json:"name"`    // the host's nodeName
	Address string `json:"address"` // its underlay address
	State   string `json:"state"`   // alive, suspect, dead, left
}

// Members is GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var m []Member
	err := c.do(ctx, http.MethodGet, "/v1/members", nil, &m)
	return m, err
}
