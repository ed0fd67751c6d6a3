// Package config holds vxbgpd's configuration: the YAML file of
// INTERFACE.md, its defaults, command-line overrides and validation that
// names every bad key by its path.
package config

import (
	"os"
	"time"
)

// Modes.
const (
	ModeOverlay = "overlay"
	ModeRouted  = "routed"
)

// Config is the whole configuration file.
type Config struct {
	NodeName  string    `yaml:"nodeName" json:"nodeName"`
	Mode      string    `yaml:"mode" json:"mode"`
	Underlay  Underlay  `yaml:"underlay" json:"underlay"`
	BGP       BGP       `yaml:"bgp" json:"bgp"`
	Discovery Discovery `yaml:"discovery" json:"discovery"`
	Networks  []Network `yaml:"networks" json:"networks"`
	StateDir  string    `yaml:"stateDir" json:"stateDir"`
	API       API       `yaml:"api" json:"api"`
	Metrics   Metrics   `yaml:"metrics" json:"metrics"`
	CNI       CNI       `yaml:"cni" json:"cni"`
	LogLevel  string    `yaml:"logLevel" json:"logLevel"` // debug | info | warn | error (default info)

	// LogFormat is how vxbgpd writes its log to stderr: text (key=value
	// lines) or json (one object a line, for log shippers). Default text.
	LogFormat string `yaml:"logFormat" json:"logFormat"`

	// MemoryLimit is the Go runtime's soft memory limit (memory.go), in
	// GOMEMLIMIT's syntax; GOMEMLIMIT in the environment wins over it.
	MemoryLimit string `yaml:"memoryLimit" json:"memoryLimit"`

	// Kubernetes: Node objects as a source (control/kube).
	Kubernetes Kubernetes `yaml:"kubernetes" json:"kubernetes"`
}

// Underlay is this host's address on the fabric.
type Underlay struct {
	// Address is the VTEP, BGP source and next hop. Default: the address of
	// the interface that holds the default route.
	Address string `yaml:"address" json:"address"`
}

// BGP configures the embedded speaker.
type BGP struct {
	ASN        uint32 `yaml:"asn" json:"asn"`
	RouterID   string `yaml:"routerID" json:"routerID"`     // default: underlay.address
	ListenPort int    `yaml:"listenPort" json:"listenPort"` // default 179; -1: do not listen
	Peers      []Peer `yaml:"peers" json:"peers"`
	// HoldTime in seconds (default 9; keepalive is a third of it).
	HoldTime uint32 `yaml:"holdTime" json:"holdTime"`
	// GracefulRestartTime in seconds (default 120): how long peers keep our
	// routes while the agent restarts.
	GracefulRestartTime uint32 `yaml:"gracefulRestartTime" json:"gracefulRestartTime"`
	// ImportPrefixes are the unicast routes (routed mode) accepted from peers
	// besides the networks' subnets, e.g. [0.0.0.0/0, "::/0"] for default
	// routes from the fabric. Each entry matches exactly that prefix, not
	// the prefixes inside it: 0.0.0.0/0 admits the default route and nothing
	// else. Routes inside a network's subnet (any length) are always
	// accepted; everything else is dropped.
	ImportPrefixes []string `yaml:"importPrefixes" json:"importPrefixes,omitempty"`
	// Mesh peers this host with every discovered and Kubernetes host of
	// its ASN (a full mesh). nil (unset) is true: read it with MeshOn.
	// false (Calico's nodeToNodeMeshEnabled: false): only with the route
	// reflectors among them, and with bgp.peers; discovery still runs for
	// failure detection and masking.
	Mesh *bool `yaml:"mesh" json:"mesh,omitempty"`
	// RouteReflector makes this host an in-cluster route reflector.
	RouteReflector RouteReflector `yaml:"routeReflector" json:"routeReflector"`
}

// MeshOn reports whether discovered and Kubernetes hosts are all peered:
// bgp.mesh, true unless set to false.
func (b BGP) MeshOn() bool { return b.Mesh == nil || *b.Mesh }

// ClusterID is bgp.routeReflector.clusterID, default bgp.routerID.
func (b BGP) ClusterID() string {
	if b.RouteReflector.ClusterID != "" {
		return b.RouteReflector.ClusterID
	}
	return b.RouterID
}

// RouteReflector is this host as a route reflector (RFC 4456) for the
// other hosts: it peers with every discovered and Kubernetes host, as a
// route-reflector client unless the host is a reflector itself.
type RouteReflector struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// ClusterID is the CLUSTER_ID (an IPv4 address) in the CLUSTER_LIST
	// of what this host reflects; default: bgp.routerID. Redundant
	// reflectors may share one.
	ClusterID string `yaml:"clusterID" json:"clusterID,omitempty"`
}

// Peer is one static BGP neighbour.
type Peer struct {
	Address  string `yaml:"address" json:"address"`
	ASN      uint32 `yaml:"asn" json:"asn"`
	Password string `yaml:"password" json:"-"` // TCP MD5; never logged nor shown
	// PasswordFile holds the TCP MD5 password instead (a Kubernetes
	// Secret, a 0600 file): read when the agent starts (ReadSecrets),
	// one trailing newline dropped. Mutually exclusive with Password.
	PasswordFile string `yaml:"passwordFile" json:"passwordFile,omitempty"`
	Port         uint16 `yaml:"port" json:"port,omitempty"` // default 179
	// MaxPrefixes bounds the routes the peer may send, per address family:
	// beyond it the session is closed with a Cease and the peer is enabled
	// again a minute later. 0 (unset): bgp.DefaultMaxPrefixes (500,000),
	// which discovered and Kubernetes peers get too.
	MaxPrefixes uint32 `yaml:"maxPrefixes" json:"maxPrefixes,omitempty"`
	// RouteReflectorClient: this host (bgp.routeReflector.enabled)
	// reflects routes to the peer (an iBGP peer of bgp.asn).
	RouteReflectorClient bool `yaml:"routeReflectorClient" json:"routeReflectorClient,omitempty"`
}

// Discovery configures memberlist gossip.
type Discovery struct {
	BindPort      int      `yaml:"bindPort" json:"bindPort"`
	Join          []string `yaml:"join" json:"join"`
	SecretKeyFile string   `yaml:"secretKeyFile" json:"secretKeyFile"`
	// Failure detection: every ProbeInterval a host probes one member,
	// which must answer within ProbeTimeout (directly, or through others
	// asked to probe it too); a member that does not is suspect, and dead
	// SuspicionMult × max(1, log10(members)) × ProbeInterval later unless it
	// refutes. The defaults declare a stopped host dead in about 1.4 s with
	// 20 members and 1.9 s with 100 (memberlist's LAN defaults take 5–14 s;
	// see control/members.DefaultTimings).
	// Durations are Go duration strings: "300ms", "1s".
	ProbeInterval time.Duration `yaml:"probeInterval" json:"probeInterval"`
	ProbeTimeout  time.Duration `yaml:"probeTimeout" json:"probeTimeout"`
	SuspicionMult int           `yaml:"suspicionMult" json:"suspicionMult"`
	// RejoinInterval: how often the seeds of join are contacted again, so
	// that two halves of a healed partition merge.
	RejoinInterval time.Duration `yaml:"rejoinInterval" json:"rejoinInterval"`
}

// Network is one pod network: an L2 VNI in overlay mode.
type Network struct {
	Name    string `yaml:"name" json:"name"`
	VNI     uint32 `yaml:"vni" json:"vni"`
	Subnet  string `yaml:"subnet" json:"subnet"`     // cluster-wide pool, e.g. 10.244.0.0/16
	Gateway string `yaml:"gateway" json:"gateway"`   // anycast gateway, inside subnet
	Block   string `yaml:"block" json:"block"`       // this host's share of subnet
	MTU     int    `yaml:"mtu" json:"mtu,omitempty"` // default: underlay MTU - 50 (- 70 over an IPv6 underlay)
	// Dual-stack (overlay mode): the IPv6 counterparts of subnet, gateway
	// and block. All three or none.
	Subnet6  string `yaml:"subnet6" json:"subnet6,omitempty"`   // e.g. fd00:10:244::/48
	Gateway6 string `yaml:"gateway6" json:"gateway6,omitempty"` // inside subnet6
	Block6   string `yaml:"block6" json:"block6,omitempty"`     // this host's share of subnet6
	// NATOutgoing masquerades the network's pods' traffic to destinations
	// outside every network's subnet and subnet6 behind the host's
	// address (Calico's natOutgoing, flannel's --ip-masq). nil (unset) is
	// true: read it with NATOn.
	NATOutgoing *bool `yaml:"natOutgoing" json:"natOutgoing,omitempty"`
}

// NATOn reports whether the network's egress is NATed: natOutgoing, true
// unless set to false.
func (n Network) NATOn() bool { return n.NATOutgoing == nil || *n.NATOutgoing }

// Kubernetes makes this host's Node object a source (control/kube): the
// networks' blocks from spec.podCIDRs, underlay.address from its
// InternalIP when unset, and the other Nodes as iBGP peers.
type Kubernetes struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Kubeconfig is the credentials file; empty: the pod's service
	// account (in-cluster).
	Kubeconfig string `yaml:"kubeconfig" json:"kubeconfig,omitempty"`
}

// API is the local control socket.
type API struct {
	Socket string `yaml:"socket" json:"socket"`
}

// Metrics is the Prometheus / health listener.
type Metrics struct {
	Listen string `yaml:"listen" json:"listen"` // "" disables it
}

// CNI is the CNI network config the agent installs for the container
// runtime once it is ready (control/cniconf). Both empty: the agent
// installs nothing (bare metal: the conflist is installed by hand).
type CNI struct {
	// ConflistSource is the conflist to install, e.g. a ConfigMap's file.
	ConflistSource string `yaml:"conflistSource" json:"conflistSource,omitempty"`
	// ConflistDest is where the runtime reads it, e.g.
	// /host/etc/cni/net.d/10-vxbgp.conflist.
	ConflistDest string `yaml:"conflistDest" json:"conflistDest,omitempty"`
}

// Defaults.
const (
	DefaultPath       = "/etc/vxbgp/config.yaml"
	DefaultStateDir   = "/var/lib/vxbgp"
	DefaultSocket     = "/run/vxbgp/vxbgp.sock"
	DefaultMetrics    = "127.0.0.1:9642"
	DefaultListenPort = 179
	DefaultBindPort   = 7946
	DefaultHoldTime   = 9
	DefaultGRTime     = 120
	DefaultPeerPort   = 179
	DefaultLogLevel   = "info"

	// NodeNameEnv, when set, is the default nodeName.
	NodeNameEnv = "NODE_NAME"

	DefaultProbeInterval  = 300 * time.Millisecond
	DefaultProbeTimeout   = 150 * time.Millisecond
	DefaultSuspicionMult  = 2
	DefaultRejoinInterval = 30 * time.Second
)

// Default returns the configuration of a file that sets nothing: every key
// of INTERFACE.md that has a default holds it. underlay.address and
// bgp.routerID stay empty: they depend on the host and are filled by
// Resolve when the agent starts.
func Default() *Config {
	// An unknown hostname leaves nodeName empty, which Validate reports.
	// NODE_NAME (a DaemonSet sets it from spec.nodeName) comes before the
	// hostname, which need not be the Node's name; the file's nodeName
	// wins over both.
	host := os.Getenv(NodeNameEnv)
	if host == "" {
		host, _ = os.Hostname()
	}
	return &Config{
		NodeName: host,
		Mode:     ModeOverlay,
		BGP: BGP{
			ListenPort:          DefaultListenPort,
			HoldTime:            DefaultHoldTime,
			GracefulRestartTime: DefaultGRTime,
		},
		Discovery: Discovery{
			BindPort:       DefaultBindPort,
			ProbeInterval:  DefaultProbeInterval,
			ProbeTimeout:   DefaultProbeTimeout,
			SuspicionMult:  DefaultSuspicionMult,
			RejoinInterval: DefaultRejoinInterval,
		},
		StateDir: DefaultStateDir,
		API:      API{Socket: DefaultSocket},
		Metrics:  Metrics{Listen: DefaultMetrics},
		LogLevel: DefaultLogLevel,

		LogFormat: DefaultLogFormat,

		MemoryLimit: DefaultMemoryLimit,
	}
}
