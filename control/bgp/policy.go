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
//   - ipv4/ipv6 unicast: prefixes inside Config.ImportUnicast (that prefix
//     or any longer one), and prefixes equal to one of Config.ImportExact.
//
// A prefix set holds one family, hence one set per family. And the exact
// entries get sets of their own: GoBGP matches a route against the single
// longest entry of a set that covers it (internal/pkg/table/policy.go
// PrefixCondition.Evaluate, critbitgo Net.Match), so with an exact
// 10.244.5.0/24 beside 10.244.0.0/16-or-longer in one set, 10.244.5.128/25
// would be checked against the /24 entry alone and rejected.
//
// Export, default REJECT, local routes only: a host is a stub. Without
// this a host with two uplinks would re-advertise one uplink's routes to
// the other (next-hop-self on eBGP rewrites EVPN next hops, osrg/gobgp#596).
//
// A reflector also exports internal routes to iBGP peers (reflect.go).
func installPolicies(ctx context.Context, s *gobgp.BgpServer, orLonger, exact []netip.Prefix, reflector bool) error {
	accept := &api.Actions{RouteAction: api.RouteAction_ACCEPT}
	evpn, _ := apiFamily(FamilyEVPN)
	stmts := []*api.Statement{
		{Name: "import-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept},
		{Name: "import-evpn", Conditions: &api.Conditions{AfiSafiIn: []*api.Family{evpn}}, Actions: accept},
	}
	for _, ds := range importSets(orLonger, exact) {
		if err := s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return fmt.Errorf("add prefix set %s: %w", ds.Name, err)
		}
		stmts = append(stmts, &api.Statement{
			Name:       ds.Name,
			Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: ds.Name}},
			Actions:    accept,
		})
	}
	if err := assign(ctx, s, api.PolicyDirection_IMPORT, &api.Policy{Name: importPolicy, Statements: stmts}); err != nil {
		return err
	}
	export := []*api.Statement{
		{Name: "export-local", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL}, Actions: accept},
	}
	if reflector {
		st, err := reflectStatement(ctx, s)
		if err != nil {
			return err
		}
		export = append(export, st)
	}
	return assign(ctx, s, api.PolicyDirection_EXPORT, &api.Policy{Name: exportPolicy, Statements: export})
}

// importSets builds the non-empty prefix sets, in a fixed order:
// import-ipv4, import-ipv6 (prefix or longer), import-ipv4-exact,
// import-ipv6-exact. An empty set is left out: GoBGP cannot tell an empty
// prefix set's family.
func importSets(orLonger, exact []netip.Prefix) []*api.DefinedSet {
	var out []*api.DefinedSet
	add := func(name string, list []netip.Prefix, v6, isExact bool) {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name}
		seen := map[netip.Prefix]bool{}
		for _, p := range list {
			p = p.Masked()
			if !p.IsValid() || p.Addr().Is6() != v6 || seen[p] {
				continue
			}
			seen[p] = true
			max := uint32(p.Addr().BitLen())
			if isExact {
				max = uint32(p.Bits())
			}
			ds.Prefixes = append(ds.Prefixes, &api.Prefix{
				IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: max,
			})
		}
		if len(ds.Prefixes) > 0 {
			out = append(out, ds)
		}
	}
	add("import-ipv4", orLonger, false, false)
	add("import-ipv6", orLonger, true, false)
	add("import-ipv4-exact", exact, false, true)
	add("import-ipv6-exact", exact, true, true)
	return out
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
