package server

// vxbgp: AddNativePaths and DeleteNativePaths are AddPaths and DeletePaths
// for a caller that holds its paths in this module's packet types: no
// api.Path to build, and none to unmarshal again (api2Path). An agent
// originating 10,000 EVPN routes spent most of its CPU marshalling each
// path into protobuf Any values and GoBGP unmarshalling them back.
//
// The table.Path each call makes is what api2Path makes of the same path
// for the global table (no source, path identifier 0, implicit withdraw,
// not from external): the attributes in the caller's order with the next
// hop appended as NEXT_HOP (IPv4 unicast with an IPv4 next hop) or
// MP_REACH_NLRI (everything else), and the same hash, so the UPDATEs sent
// are the same bytes.
//
// The caller keeps its NativePath values and may hand them over again:
// each call gives the table its own copy of the NLRI (the table writes a
// path's local identifier into it) and of the attribute list
// (fixupApiPath replaces the extended communities in the list); the
// attribute values themselves are shared and must not change, as the
// paths of one received UPDATE already share theirs.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/dgryski/go-farm"

	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// NativePath is a path of the global table in packet form.
type NativePath struct {
	NLRI bgp.AddrPrefixInterface // *bgp.EVPNNLRI, *bgp.IPAddrPrefix or *bgp.IPv6AddrPrefix, path identifier 0
	// NextHop goes into NEXT_HOP or MP_REACH_NLRI; it may be nil for a
	// withdrawal.
	NextHop net.IP
	// Attrs are the other attributes, without NEXT_HOP and MP_REACH_NLRI.
	Attrs []bgp.PathAttributeInterface
}

// AddNativePaths is AddPaths for paths in packet form.
func (s *BgpServer) AddNativePaths(ctx context.Context, paths []NativePath) (errs []error, err error) {
	return s.batchNative(paths, false)
}

// DeleteNativePaths is DeletePaths for paths in packet form.
func (s *BgpServer) DeleteNativePaths(ctx context.Context, paths []NativePath) (errs []error, err error) {
	return s.batchNative(paths, true)
}

func (s *BgpServer) batchNative(in []NativePath, withdraw bool) ([]error, error) {
	var errs []error
	native := make([]*table.Path, len(in))
	now := time.Now()
	for i, p := range in {
		path, err := nativePath(p, withdraw, now)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(in))
			}
			errs[i] = err
			continue
		}
		native[i] = path
	}
	return s.propagateBatch(native, errs, withdraw)
}

// nativePath is api2Path for a NativePath, a panic (a malformed path)
// turned into an error.
func nativePath(p NativePath, withdraw bool, now time.Time) (path *table.Path, err error) {
	defer func() {
		if r := recover(); r != nil {
			path, err = nil, fmt.Errorf("malformed path: %v", r)
		}
	}()
	nlri, err := cloneNLRI(p.NLRI)
	if err != nil {
		return nil, err
	}
	nlri.SetPathIdentifier(0)
	nlri.SetPathLocalIdentifier(0)
	pattrs := make([]bgp.PathAttributeInterface, 0, len(p.Attrs)+1)
	var seen [256]bool
	for _, a := range p.Attrs {
		if a == nil {
			return nil, fmt.Errorf("nil path attribute")
		}
		t := a.GetType()
		switch t {
		case bgp.BGP_ATTR_TYPE_NEXT_HOP, bgp.BGP_ATTR_TYPE_MP_REACH_NLRI:
			return nil, fmt.Errorf("path attribute type %d: give the next hop as NextHop", t)
		}
		if seen[t] {
			return nil, fmt.Errorf("duplicated path attribute type: %d", t)
		}
		seen[t] = true
		pattrs = append(pattrs, a)
	}
	var nexthop string
	if p.NextHop != nil {
		nexthop = p.NextHop.String()
	}
	if !withdraw && nexthop == "" {
		return nil, fmt.Errorf("nexthop not found")
	}
	if bgp.AfiSafiToRouteFamily(nlri.AFI(), nlri.SAFI()) == bgp.RF_IPv4_UC && p.NextHop.To4() != nil {
		pattrs = append(pattrs, bgp.NewPathAttributeNextHop(nexthop))
	} else {
		pattrs = append(pattrs, bgp.NewPathAttributeMpReachNLRI(nexthop, []bgp.AddrPrefixInterface{nlri}))
	}
	newPath := table.NewPath(nil, nlri, withdraw, pattrs, now, false)
	if !withdraw {
		var total bytes.Buffer
		for _, a := range pattrs {
			if a.GetType() == bgp.BGP_ATTR_TYPE_MP_REACH_NLRI {
				continue
			}
			b, _ := a.Serialize()
			total.Write(b)
		}
		newPath.SetHash(farm.Hash32(total.Bytes()))
	}
	newPath.SetIsFromExternal(false)
	return newPath, nil
}

// cloneNLRI copies the NLRI's own fields (its path identifiers among
// them); what they point to is shared, read-only.
func cloneNLRI(n bgp.AddrPrefixInterface) (bgp.AddrPrefixInterface, error) {
	switch n := n.(type) {
	case *bgp.EVPNNLRI:
		if n != nil && n.RouteTypeData != nil {
			c := *n
			return &c, nil
		}
	case *bgp.IPAddrPrefix:
		if n != nil {
			c := *n
			return &c, nil
		}
	case *bgp.IPv6AddrPrefix:
		if n != nil {
			c := *n
			return &c, nil
		}
	default:
		return nil, fmt.Errorf("nlri %T: not supported", n)
	}
	return nil, fmt.Errorf("nil nlri")
}
