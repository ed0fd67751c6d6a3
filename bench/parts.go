package bench

import (
	"fmt"
	"slices"
	"strings"
)

// Parts of a run, for Config.Only (vxbgp-bench -only): each names one or
// two rows. The overlay lab serves conv, cni, bulk, type2, overlay and
// footprint; the routed lab serves routed and blocks; repeer has a lab of
// its own, k8s a cluster (internal/kubelab/cluster); gobench needs no lab.
const (
	PartConv      = "conv"      // convergence, 1 endpoint
	PartCNI       = "cni"       // CNI ADD and DEL
	PartBulk      = "bulk"      // bulk convergence
	PartType2     = "type2"     // type-2 routes from a peer
	PartOverlay   = "overlay"   // iperf3, overlay
	PartFootprint = "footprint" // agent idle memory (PSS) and CPU
	PartRouted    = "routed"    // iperf3, routed
	PartBlocks    = "blocks"    // routed blocks from a peer
	PartRepeer    = "repeer"    // re-peer after a restart, vs FRR's bgpd
	PartK8s       = "k8s"       // a real cluster: pods to Ready, CRI RunPodSandbox (not in -quick unless named)
	PartGoBench   = "gobench"   // Go micro-benchmarks
	PartFleet     = "fleet"     // the 50-host lab (not in -quick unless named)
)

// Parts lists every part, in table order.
var Parts = []string{PartConv, PartCNI, PartBulk, PartType2, PartOverlay, PartFootprint, PartRouted, PartBlocks, PartRepeer, PartK8s, PartFleet, PartGoBench}

// ParseParts parses a comma list of parts; "" and "all" select all (nil).
func ParseParts(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Parts, p) {
			return nil, fmt.Errorf("unknown part %q (parts: %s)", p, strings.Join(Parts, ","))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no part in %q", s)
	}
	return out, nil
}

// has reports whether the run includes part p. A quick run of all parts
// leaves k8s and fleet out: each alone takes longer than the rest; named
// (-quick -only k8s) k8s runs a tiny version.
func (c Config) has(p string) bool {
	if len(c.Only) == 0 {
		return !c.Quick || p != PartK8s && p != PartFleet
	}
	return slices.Contains(c.Only, p)
}

// hasAny reports whether the run includes any of ps.
func (c Config) hasAny(ps ...string) bool {
	for _, p := range ps {
		if c.has(p) {
			return true
		}
	}
	return false
}
