package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Chain is a CNI conflist run the way a runtime runs one: ADD calls each
// plugin in order with the previous plugin's result as prevResult, DEL
// calls them in reverse order with the cached ADD result.
type Chain struct {
	Name    string           // the conflist's name
	Plugins []map[string]any // the plugins' entries; "type" names the binary
	// Dir holds the plugins that are not the lab's (e.g. the reference
	// ptp and host-local); it goes first in CNI_PATH. vxbgp-cni comes from
	// Options.BinDir.
	Dir string
}

// ChainedPod creates namespace <run>-<name> and attaches it on h with
// chain c. The pod is not in Pods: the matrix helpers stay about the
// ordinary pods. DelChainedPod detaches it; Close deletes its namespace
// in any case.
func (l *Lab) ChainedPod(ctx context.Context, h *Host, name string, c Chain) (*Pod, error) {
	p, err := l.attach(ctx, h, name, func(p *Pod) ([]byte, error) { return h.chainCNI(ctx, "ADD", p, c, nil) })
	if err != nil {
		return nil, err
	}
	l.logf("%s: chained pod %s %s %s (CNI ADD %v)", h.Name, name, p.Prefix, p.MAC, p.AddTime.Round(time.Millisecond))
	return p, nil
}

// DelChainedPod runs CNI DEL of chain c for p and deletes its namespace.
func (l *Lab) DelChainedPod(ctx context.Context, p *Pod, c Chain) error {
	if _, err := p.Host.chainCNI(ctx, "DEL", p, c, p.Result); err != nil {
		return err
	}
	if err := delNetns(ctx, p.NS, l.Dir); err != nil {
		return err
	}
	l.logf("%s: chained pod %s deleted", p.Host.Name, p.Name)
	return nil
}

// chainCNI runs every plugin of c for verb in h's namespace. For ADD,
// prev is nil and each plugin gets its predecessor's result; for DEL,
// every plugin gets prev, in reverse order. It returns the last output.
func (h *Host) chainCNI(ctx context.Context, verb string, p *Pod, c Chain, prev json.RawMessage) ([]byte, error) {
	plugins := slices.Clone(c.Plugins)
	if verb == "DEL" {
		slices.Reverse(plugins)
	}
	env := cniEnv(verb, p, c.Dir+":"+h.lab.opts.BinDir, "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME="+p.Name)
	var out []byte
	for _, pl := range plugins {
		typ, _ := pl["type"].(string)
		conf := map[string]any{}
		for k, v := range pl {
			conf[k] = v
		}
		conf["name"], conf["cniVersion"] = c.Name, cniVersion
		if prev != nil {
			conf["prevResult"] = prev
		}
		stdin, err := json.Marshal(conf)
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(c.Dir, typ)
		if typ == BinCNI {
			bin = h.bin(BinCNI)
		}
		if out, err = h.execPlugin(ctx, bin, stdin, env); err != nil {
			return out, fmt.Errorf("cni %s %s (%s) on %s: %w", verb, p.Name, typ, h.Name, err)
		}
		if verb == "ADD" {
			prev = out
		}
	}
	return out, nil
}
