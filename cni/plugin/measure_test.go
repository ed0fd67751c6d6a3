package plugin

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// TestMeasureAddDel times ADD and DEL through libcni, vxbgp-cni next to
// the reference bridge + host-local, in the same run on the same machine.
// It only runs when VXBGP_CNI_MEASURE=1 (it is a measurement, not a check):
//
//	VXBGP_CNI_MEASURE=1 go test -run TestMeasureAddDel -v ./cni/plugin
func TestMeasureAddDel(t *testing.T) {
	if os.Getenv("VXBGP_CNI_MEASURE") != "1" {
		t.Skip("SKIPPED: a measurement; set VXBGP_CNI_MEASURE=1 to run it")
	}
	e := newTestEnv(t)
	r := e.runtime(t)
	const n = 100
	lists := []struct {
		name string
		list *libcni.NetworkConfigList
	}{
		{"vxbgp-cni", e.conflist(t, "1.1.0", "vxmeasure", nil)},
		{"bridge+host-local", e.conflistRaw(t, "1.1.0", "refmeasure", map[string]any{
			"type": "bridge", "bridge": "cnimeas0", "isGateway": true,
			"ipam": map[string]any{"type": "host-local", "subnet": "10.245.0.0/16", "dataDir": t.TempDir()},
		})},
	}
	for _, l := range lists {
		var adds, dels []time.Duration
		for i := range n {
			rt := r.rt(fmt.Sprintf("measure%d", i), e.podPath, nil)
			start := time.Now()
			if err := r.withHost(func() error { _, err := r.cfg.AddNetworkList(context.Background(), l.list, rt); return err }); err != nil {
				t.Fatalf("%s ADD: %v", l.name, err)
			}
			adds = append(adds, time.Since(start))
			start = time.Now()
			if err := r.withHost(func() error { return r.cfg.DelNetworkList(context.Background(), l.list, rt) }); err != nil {
				t.Fatalf("%s DEL: %v", l.name, err)
			}
			dels = append(dels, time.Since(start))
		}
		t.Logf("%-18s ADD median %v p99 %v | DEL median %v p99 %v (n=%d)", l.name, pct(adds, 50), pct(adds, 99), pct(dels, 50), pct(dels, 99), n)
	}
}

// pct returns the p-th percentile of d (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)].Round(10 * time.Microsecond)
}
