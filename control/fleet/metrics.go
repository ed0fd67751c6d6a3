package fleet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/members"
)

// Register adds the fleet's metrics to reg:
//
//	vxbgp_members{state="alive|dead|left"}                   members by state, this host included
//	vxbgp_members_masked                                     hosts kept out of the data path now
//	vxbgp_mask_total, vxbgp_unmask_total                     confirmed deaths acted on, and returns
//	vxbgp_mask_unconfirmed_total                             deaths the host answered for (agent restarts)
//	vxbgp_mask_isolated_total                                deaths ignored: too many at once (this host cut off?)
//	vxbgp_members_refused_total{reason="conflict|overlap|bad_meta"}
//
// A nil Fleet (no discovery) registers nothing.
func (f *Fleet) Register(reg prometheus.Registerer) {
	if f == nil {
		return
	}
	gauge := func(name, help string, labels prometheus.Labels, v func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vxbgp", Name: name, Help: help, ConstLabels: labels}, v))
	}
	counter := func(name, help string, labels prometheus.Labels, v func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vxbgp", Name: name, Help: help, ConstLabels: labels}, v))
	}
	for _, st := range []members.State{members.Alive, members.Dead, members.Left} {
		gauge("members", "Members discovered, by state.", prometheus.Labels{"state": st.String()}, func() float64 {
			n := 0
			for _, m := range f.disc.Members() {
				if m.State == st {
					n++
				}
			}
			return float64(n)
		})
	}
	gauge("members_masked", "Hosts kept out of the data path (found dead).", nil, func() float64 { return float64(f.mask.Stats().Masked) })
	counter("mask_total", "Confirmed deaths acted on (host masked).", nil, func() float64 { return float64(f.mask.Stats().Masks) })
	counter("unmask_total", "Masked hosts back.", nil, func() float64 { return float64(f.mask.Stats().Unmasks) })
	counter("mask_unconfirmed_total", "Deaths the host answered for: agent restarts, not masked.", nil,
		func() float64 { return float64(f.mask.Stats().Unconfirmed) })
	counter("mask_isolated_total", "Deaths not acted on: more than a third of the members died at once.", nil,
		func() float64 { return float64(f.mask.Stats().Isolated) })
	for reason, v := range map[string]func(members.Stats) uint64{
		"conflict": func(s members.Stats) uint64 { return s.Conflicts },
		"overlap":  func(s members.Stats) uint64 { return s.Overlaps },
		"bad_meta": func(s members.Stats) uint64 { return s.BadMeta },
	} {
		counter("members_refused_total", "Member announcements refused, by reason.", prometheus.Labels{"reason": reason},
			func() float64 { return float64(v(f.disc.Stats())) })
	}
}
