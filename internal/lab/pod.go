package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Pod is a pod namespace attached by the real vxbgp-cni plugin.
type Pod struct {
	Name        string // e.g. h1p1
	NS          string // namespace
	Host        *Host
	ContainerID string
	IfName      string       // eth0
	IP          netip.Addr   // from the CNI result
	Prefix      netip.Prefix // IP with its prefix length
	IP6         netip.Addr   // dual-stack labs: the IPv6 address from the CNI result
	Prefix6     netip.Prefix // IP6 with its prefix length
	Gateway     string
	MAC         string          // of eth0, lowercase
	Result      json.RawMessage // the plugin's stdout
	AddStart    time.Time       // when CNI ADD was exec'd (the netns existed)
	AddTime     time.Duration   // how long CNI ADD took
	DelTime     time.Duration   // how long CNI DEL took, once DelPod ran it
}

// cniVersion is what our network config declares; 1.1.0 is what the plugin
// supports (INTERFACE.md) and what current runtimes send.
const cniVersion = "1.1.0"

// netConf returns the network config JSON a runtime would pass to vxbgp-cni
// for host h: the plugin's entry of a conflist, with name and cniVersion
// copied in from the list as runtimes do.
func (h *Host) netConf() []byte {
	b, _ := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       "vxbgp",
		"type":       BinCNI,
		"network":    NetworkName,
		"socket":     h.Socket,
		"stateDir":   h.StateDir,
	})
	return b
}

// cni runs the plugin for p in h's namespace as a runtime does: verb,
// container ID, netns path and ifname in the environment, the network
// config on stdin. It returns stdout; a failure carries the plugin's stdout
// (the CNI error JSON) and stderr.
func (h *Host) cni(ctx context.Context, verb string, p *Pod) ([]byte, error) {
	// CNI_ARGS: what containerd sends for a Kubernetes pod.
	env := cniEnv(verb, p, h.lab.opts.BinDir+":/opt/cni/bin:/usr/lib/cni",
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME="+p.ContainerID[:12]+";K8S_POD_INFRA_CONTAINER_ID="+p.ContainerID)
	out, err := h.execPlugin(ctx, h.bin(BinCNI), h.netConf(), env)
	if err != nil {
		return out, fmt.Errorf("cni %s %s on %s: %w", verb, p.ContainerID[:12], h.Name, err)
	}
	return out, nil
}

// cniEnv is the environment of a plugin run for p: the CNI variables
// (path is CNI_PATH, args CNI_ARGS), then ours without any CNI_ variable.
func cniEnv(verb string, p *Pod, path, args string) []string {
	env := []string{
		"CNI_COMMAND=" + verb,
		"CNI_CONTAINERID=" + p.ContainerID,
		"CNI_NETNS=" + netnsDir + "/" + p.NS,
		"CNI_IFNAME=" + p.IfName,
		"CNI_PATH=" + path,
		"CNI_ARGS=" + args,
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CNI_") {
			env = append(env, kv)
		}
	}
	return env
}

// execPlugin runs plugin binary bin in h's namespace with conf on stdin; a
// failure's stderr is prefixed with the plugin's stdout (the CNI error
// JSON).
func (h *Host) execPlugin(ctx context.Context, bin string, conf []byte, env []string) ([]byte, error) {
	out, err := runIn(ctx, h.NS, conf, env, bin)
	var ce *cmdError
	if errors.As(err, &ce) {
		ce.Stderr = strings.TrimSpace(string(out)) + " " + ce.Stderr
	}
	return out, err
}

// Pod creates namespace <run>-<name> and attaches it with CNI ADD on h.
func (l *Lab) Pod(ctx context.Context, h *Host, name string) (*Pod, error) {
	p, err := l.attach(ctx, h, name, func(p *Pod) ([]byte, error) { return h.cni(ctx, "ADD", p) })
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.pods = append(l.pods, p)
	l.mu.Unlock()
	l.logf("%s: pod %s %s %s (CNI ADD %v)", h.Name, name, p.Prefix, p.MAC, p.AddTime.Round(time.Millisecond))
	return p, nil
}

// attach creates namespace <run>-<name> for a pod on h and runs add, the
// timed CNI ADD (Pod.AddStart, AddTime), for it; if add fails, the
// namespace goes again. The pod's addresses come from add's result, its
// MAC too, or else from its interface.
func (l *Lab) attach(ctx context.Context, h *Host, name string, add func(p *Pod) ([]byte, error)) (*Pod, error) {
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("container id: %w", err)
	}
	p := &Pod{Name: name, NS: l.ID + "-" + name, Host: h, ContainerID: hex.EncodeToString(id[:]), IfName: "eth0"}
	if err := l.addNetnsHere(p.NS); err != nil {
		return nil, err
	}
	p.AddStart = time.Now()
	out, err := add(p)
	p.AddTime = time.Since(p.AddStart)
	if err != nil {
		return nil, errors.Join(err, delNetns(context.WithoutCancel(ctx), p.NS, l.Dir))
	}
	p.Result = out
	if err := p.parseResult(out); err != nil {
		return nil, err
	}
	if p.MAC == "" {
		if p.MAC, err = linkMAC(ctx, p.NS, p.IfName); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// DelPod runs CNI DEL for p on its host (timed: Pod.DelTime) and deletes
// its namespace. DEL must work with the agent down; the test for that calls
// this too.
func (l *Lab) DelPod(ctx context.Context, p *Pod) error {
	start := time.Now()
	if _, err := p.Host.cni(ctx, "DEL", p); err != nil {
		return err
	}
	p.DelTime = time.Since(start)
	if err := delNetns(ctx, p.NS, l.Dir); err != nil {
		return err
	}
	l.mu.Lock()
	for i, q := range l.pods {
		if q == p {
			l.pods = append(l.pods[:i], l.pods[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	l.logf("%s: pod %s deleted", p.Host.Name, p.Name)
	return nil
}

// cniResult is the part of a CNI 1.x result we read.
type cniResult struct {
	Interfaces []struct {
		Name    string `json:"name"`
		MAC     string `json:"mac"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Address   string `json:"address"`
		Gateway   string `json:"gateway"`
		Interface *int   `json:"interface"`
	} `json:"ips"`
}

func (p *Pod) parseResult(out []byte) error {
	var r cniResult
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("decode cni result of %s %q: %w", p.Name, abbrev(string(out)), err)
	}
	for _, ip := range r.IPs {
		if pfx, err := netip.ParsePrefix(ip.Address); err == nil && pfx.Addr().Is6() && !p.IP6.IsValid() {
			p.Prefix6, p.IP6 = pfx, pfx.Addr()
		}
	}
	for _, ip := range r.IPs {
		pfx, err := netip.ParsePrefix(ip.Address)
		if err != nil || !pfx.Addr().Is4() {
			continue
		}
		p.Prefix, p.IP, p.Gateway = pfx, pfx.Addr(), ip.Gateway
		if ip.Interface != nil && *ip.Interface < len(r.Interfaces) {
			p.MAC = strings.ToLower(r.Interfaces[*ip.Interface].MAC)
		}
		break
	}
	if !p.IP.IsValid() {
		return fmt.Errorf("cni result of %s has no IPv4 address: %s", p.Name, abbrev(string(out)))
	}
	if p.MAC == "" {
		for _, i := range r.Interfaces {
			if i.Sandbox != "" && i.Name == p.IfName {
				p.MAC = strings.ToLower(i.MAC)
			}
		}
	}
	return nil
}

// linkMAC reads an interface's MAC inside a namespace.
func linkMAC(ctx context.Context, ns, dev string) (string, error) {
	out, err := IP(ctx, ns, "-j", "link", "show", "dev", dev)
	if err != nil {
		return "", err
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("decode link %s in %s: %v %q", dev, ns, err, abbrev(out))
	}
	return strings.ToLower(links[0].Address), nil
}
