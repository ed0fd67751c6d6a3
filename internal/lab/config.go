package lab

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// The lab's fixed numbers. They only exist inside the lab's namespaces.
const (
	ASN        = 64512
	VNI        = 100
	PodSubnet  = "10.244.0.0/16"
	PodGateway = "10.244.0.1"
	// Dual-stack labs (Options.DualStack) add these; host i's block6 is
	// fd00:10:244:<i>::/64.
	podSubnet6  = "fd00:10:244::/48"
	PodGateway6 = "fd00:10:244::1"
	NetworkName = "pods"
	underlayPfx = "10.250.0." // host i: .i, FRR host j: .100+j
	underlayLen = 24
	// Dual-stack labs: host i's IPv6 underlay address is fd00:250::<i>/64.
	underlayPfx6 = "fd00:250::"
	underlayLen6 = 64
	bgpPort      = 179
	metricsAddr  = "127.0.0.1:9642" // per host namespace, so the same on every host
)

// HostConfig is the vxbgpd config file the lab writes for a host. It mirrors
// the keys of INTERFACE.md instead of reusing control/config.Config so that
// only the keys we mean are written: a zero in the file would override a
// default. Tests may change it through Options.Configure before it is
// written.
type HostConfig struct {
	NodeName string `yaml:"nodeName"`
	Mode     string `yaml:"mode"`
	Underlay struct {
		Address string `yaml:"address"`
	} `yaml:"underlay"`
	BGP struct {
		ASN        uint32       `yaml:"asn"`
		RouterID   string       `yaml:"routerID"`
		ListenPort int          `yaml:"listenPort"`
		Peers      []PeerConfig `yaml:"peers"`
		// ImportPrefixes: unicast prefixes accepted besides the subnets
		// (routed mode); omitted when empty.
		ImportPrefixes []string `yaml:"importPrefixes,omitempty"`
		// Mesh: bgp.mesh; nil leaves it out (its default, true).
		Mesh *bool `yaml:"mesh,omitempty"`
		// RouteReflector: bgp.routeReflector; nil leaves it out.
		RouteReflector *RouteReflectorConfig `yaml:"routeReflector,omitempty"`
	} `yaml:"bgp"`
	// Discovery: gossip (Options.Discovery); omitted otherwise.
	Discovery *DiscoveryConfig `yaml:"discovery,omitempty"`
	Networks  []NetworkConfig  `yaml:"networks"`
	StateDir  string           `yaml:"stateDir"`
	API       struct {
		Socket string `yaml:"socket"`
	} `yaml:"api"`
	Metrics struct {
		Listen string `yaml:"listen"`
	} `yaml:"metrics"`
	LogLevel string `yaml:"logLevel,omitempty"`
	// Kubernetes: Node objects as the source (a cluster lab); omitted
	// otherwise.
	Kubernetes *KubernetesConfig `yaml:"kubernetes,omitempty"`
}

// KubernetesConfig is the kubernetes section.
type KubernetesConfig struct {
	Enabled    bool   `yaml:"enabled"`
	Kubeconfig string `yaml:"kubeconfig,omitempty"`
}

// PeerConfig is one static BGP peer.
type PeerConfig struct {
	Address      string `yaml:"address"`
	ASN          uint32 `yaml:"asn"`
	PasswordFile string `yaml:"passwordFile,omitempty"`
	MaxPrefixes  uint32 `yaml:"maxPrefixes,omitempty"`
}

// RouteReflectorConfig is bgp.routeReflector.
type RouteReflectorConfig struct {
	Enabled   bool   `yaml:"enabled"`
	ClusterID string `yaml:"clusterID,omitempty"`
}

// Reflector reports whether the config makes the host a route reflector.
func (c *HostConfig) Reflector() bool {
	return c.BGP.RouteReflector != nil && c.BGP.RouteReflector.Enabled
}

// Meshed reports whether the host peers with every discovered host
// (bgp.mesh, default true) rather than with the reflectors only.
func (c *HostConfig) Meshed() bool { return c.BGP.Mesh == nil || *c.BGP.Mesh || c.Reflector() }

// DiscoveryConfig is the discovery section: seeds and the gossip key file.
type DiscoveryConfig struct {
	Join          []string `yaml:"join"`
	SecretKeyFile string   `yaml:"secretKeyFile,omitempty"`
}

// NetworkConfig is one pod network.
type NetworkConfig struct {
	Name    string `yaml:"name"`
	VNI     uint32 `yaml:"vni"`
	Subnet  string `yaml:"subnet"`
	Gateway string `yaml:"gateway"`
	Block   string `yaml:"block"`
	// Dual-stack only; left out of the file otherwise.
	Subnet6  string `yaml:"subnet6,omitempty"`
	Gateway6 string `yaml:"gateway6,omitempty"`
	Block6   string `yaml:"block6,omitempty"`
	// NATOutgoing: nil leaves natOutgoing out of the file (its default,
	// true).
	NATOutgoing *bool `yaml:"natOutgoing,omitempty"`
}

// hostConfig builds host h's config: full mesh with every other vxbgp host
// (unless Options.NoMesh or Options.Discovery; iBGP unless Options.HostASN
// differs per host), iBGP with every FRR host, a session with every router
// that serves h, and one network with h's own /24 block. With
// Options.Discovery the mesh is left to gossip: one seed, h1's address.
func (l *Lab) hostConfig(h *Host) *HostConfig {
	c := &HostConfig{NodeName: h.Name, Mode: l.opts.Mode, StateDir: h.StateDir, LogLevel: l.opts.LogLevel}
	c.Underlay.Address = h.Addr
	c.BGP.ASN = l.hostASN(h.Index)
	c.BGP.RouterID = h.Addr
	c.BGP.ListenPort = bgpPort
	for _, o := range l.Hosts {
		if o != h && !l.opts.NoMesh && !l.opts.Discovery {
			c.BGP.Peers = append(c.BGP.Peers, PeerConfig{Address: o.Addr, ASN: l.hostASN(o.Index)})
		}
	}
	if l.opts.Discovery {
		c.Discovery = &DiscoveryConfig{Join: []string{hostAddr(1)}, SecretKeyFile: l.keyFile}
	}
	for _, f := range l.FRR {
		c.BGP.Peers = append(c.BGP.Peers, PeerConfig{Address: f.Addr, ASN: ASN})
	}
	for _, r := range l.Routers {
		if r.serves(h) {
			c.BGP.Peers = append(c.BGP.Peers, PeerConfig{Address: r.Addr, ASN: r.ASN})
		}
	}
	c.Networks = []NetworkConfig{{
		Name: NetworkName, VNI: VNI, Subnet: PodSubnet, Gateway: PodGateway,
		Block: h.Block(),
	}}
	if l.opts.DualStack {
		n := &c.Networks[0]
		n.Subnet6, n.Gateway6, n.Block6 = podSubnet6, PodGateway6, h.Block6()
	}
	c.API.Socket = h.Socket
	c.Metrics.Listen = metricsAddr
	return c
}

// hostASN is host i's ASN: Options.HostASN's, or ASN.
func (l *Lab) hostASN(i int) uint32 {
	if l.opts.HostASN != nil {
		return l.opts.HostASN(i)
	}
	return ASN
}

// hostAddr is host i's underlay address.
func hostAddr(i int) string { return fmt.Sprintf("%s%d", underlayPfx, i) }

// Block is the host's pod block, 10.244.<Index>.0/24.
func (h *Host) Block() string { return fmt.Sprintf("10.244.%d.0/24", h.Index) }

// Block6 is the host's IPv6 pod block in dual-stack labs,
// fd00:10:244:<Index>::/64.
func (h *Host) Block6() string { return fmt.Sprintf("fd00:10:244:%x::/64", h.Index) }

// WriteConfig writes c as YAML to path.
func WriteConfig(path string, c *HostConfig) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("marshal config %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}
