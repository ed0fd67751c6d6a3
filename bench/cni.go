package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// cniLatency: n pods with vxbgp-cni and n with the reference plugins on h1,
// alternating, then all deleted, alternating.
func cniLatency(ctx context.Context, c Config, l *lab.Lab, n int) []Row {
	h1 := l.Host(1)
	ref := &refCNI{dir: c.RefCNI, hostNS: h1.NS, dataDir: l.Dir + "/host-local"}
	var addO, addR, delO, delR []time.Duration
	var pods []*lab.Pod
	var refs []string
	fail := func(err error) []Row {
		return []Row{errRow(WhatCNIAdd, refCNIName, err), errRow(WhatCNIDel, refCNIName, err)}
	}
	for i := range n {
		p, err := l.Pod(ctx, h1, fmt.Sprintf("a%d", i))
		if err != nil {
			return fail(err)
		}
		pods = append(pods, p)
		addO = append(addO, p.AddTime)
		ns, err := l.AddNetns(ctx, fmt.Sprintf("r%d", i))
		if err != nil {
			return fail(err)
		}
		refs = append(refs, ns)
		d, err := ref.call(ctx, "ADD", ns)
		if err != nil {
			return fail(err)
		}
		addR = append(addR, d)
	}
	for i := range n {
		if err := l.DelPod(ctx, pods[i]); err != nil {
			return fail(err)
		}
		delO = append(delO, pods[i].DelTime)
		d, err := ref.call(ctx, "DEL", refs[i])
		if err != nil {
			return fail(err)
		}
		delR = append(delR, d)
		_ = l.DelNetns(ctx, refs[i])
	}
	a := latencyRow(WhatCNIAdd, refCNIName, addO, addR)
	a.Note = "same host, alternating; both started from a thread in h1's namespace, as a container runtime starts plugins"
	return []Row{a, latencyRow(WhatCNIDel, refCNIName, delO, delR)}
}

type refCNI struct{ dir, hostNS, dataDir string }

func (r *refCNI) call(ctx context.Context, verb, podNS string) (time.Duration, error) {
	conf, _ := json.Marshal(map[string]any{
		"cniVersion": "1.1.0", "name": "refnet", "type": "bridge",
		"bridge": "refbr0", "isGateway": true, "mtu": 1450,
		"ipam": map[string]any{"type": "host-local", "subnet": "10.99.0.0/16", "dataDir": r.dataDir},
	})
	id := strings.ReplaceAll(podNS, "-", "") + "0000000000000000"
	env := append(os.Environ(),
		"CNI_COMMAND="+verb, "CNI_CONTAINERID="+id, "CNI_NETNS="+netnsPath(podNS),
		"CNI_IFNAME=eth0", "CNI_PATH="+r.dir)
	start := time.Now()
	_, err := lab.RunEnv(ctx, conf, env, "ip", "netns", "exec", r.hostNS, r.dir+"/bridge")
	return time.Since(start), err
}
