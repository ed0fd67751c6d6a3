package bgp

import (
	"context"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
)

// Policy names, visible in GoBGP's own logs.
const (
	importPolicy = "vxbgp-import"
	exportPolicy = "vxbgp-export"
)

// installPolicies sets the global import and export policies. It runs in
// New, before any peer exists, so no route is ever accepted or sent under
// GoBGP's initial accept-all defaults.
//
// Import, default REJECT:
//   - ROUTE_TYPE_LOCAL: GoBGP applies the global import policy to AddPath
//     routes too (osrg/gobgp#1768, cilium#33035); without this statement
//     our own advertisements would silently vanish.
//   - l2vpn-evpn: always accepted; control/evpn decides which VNIs apply.
//   - ipv4/ipv6 unicast: only prefixes inside Config.ImportUnicast (any
//     longer mask). A prefix set holds one family, hence one set per family.
//
// Export, default REJECT, local routes only: a host is a stub. Without
// this a host with two uplinks would re-advertise one uplink's routes to
// the other (next-hop-self on eBGP rewrites EVPN next hops, osrg/gobgp#596).
func installPolicies(ctx context.Context, s *gobgp.BgpServer, importUnicast []netip.Prefix) error {
	accept := &api.Actions{RouteAction: api.RouteAction_ACCEPT}
	evpn, _ := apiFamily(FamilyEVPN)
	stmts := []*api.Statement{
		{Name: "import-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept},
		{Name: "import-evpn", Conditions: &api.Conditions{AfiSafiIn: []*api.Family{evpn}}, Actions: accept},
	}
	sets := map[string]*api.DefinedSet{}
	for _, p := range importUnicast {
		p = p.Masked()
		name, max := "import-ipv4", uint32(32)
		if p.Addr().Is6() {
			name, max = "import-ipv6", 128
		}
		ds := sets[name]
		if ds == nil {
			ds = &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name}
			sets[name] = ds
			stmts = append(stmts, &api.Statement{
				Name:       name,
				Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: name}},
				Actions:    accept,
			})
		}
		ds.Prefixes = append(ds.Prefixes, &api.Prefix{
			IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: max,
		})
	}
	for _, name := range []string{"import-ipv4", "import-ipv6"} {
		if ds := sets[name]; ds != nil {
			if err := s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
				return fmt.Errorf("add prefix set %s: %w", name, err)
			}
		}
	}
	if err := assign(ctx, s, api.PolicyDirection_IMPORT, &api.Policy{Name: importPolicy, Statements: stmts}); err != nil {
		return err
	}
	return assign(ctx, s, api.PolicyDirection_EXPORT, &api.Policy{Name: exportPolicy, Statements: []*api.Statement{
		{Name: "export-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept},
	}})
}

// Statement names are global in GoBGP, hence the prefixes.

// assign adds pol and makes it the only global policy of dir, default
// REJECT. (Global.ApplyPolicy in StartBgp is ignored by v3.37.0, and
// per-peer assignments exist only for route-server clients.)
func assign(ctx context.Context, s *gobgp.BgpServer, dir api.PolicyDirection, pol *api.Policy) error {
	if err := s.AddPolicy(ctx, &api.AddPolicyRequest{Policy: pol}); err != nil {
		return fmt.Errorf("add policy %s: %w", pol.Name, err)
	}
	err := s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     dir,
		Policies:      []*api.Policy{{Name: pol.Name}},
		DefaultAction: api.RouteAction_REJECT,
	}})
	if err != nil {
		return fmt.Errorf("assign policy %s: %w", pol.Name, err)
	}
	return nil
}
