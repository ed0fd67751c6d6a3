package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vxbgp/vxbgp/internal/stateformat"
)

// NetworksFile is the name, in the state directory, of the file the agent
// writes its networks to.
const NetworksFile = "networks.json"

// Pool is one address family of a network: the cluster-wide subnet, this
// host's block of it (pods' addresses) and the anycast gateway (the pods'
// default route).
type Pool struct {
	Subnet, Block netip.Prefix
	Gateway       netip.Addr
}

// NetworkInfo is what the CNI plugin needs to know about one network to
// attach pods to it without asking the agent.
type NetworkInfo struct {
	Name   string
	VNI    uint32
	Bridge string // e.g. vxbr100, holds every pool's Gateway/Subnet.Bits()
	MTU    int    // of the pods' interfaces; 0: the bridge's
	// Pools are the network's address families, one pool each: the IPv4
	// pool first, then the IPv6 one on a dual-stack network. A network
	// with only an IPv6 pool is valid here too (the agent's config does
	// not make one). A pod gets one address from each pool's block.
	Pools []Pool
}

// Blocks returns the pools' blocks, in pool order.
func (n NetworkInfo) Blocks() []netip.Prefix {
	out := make([]netip.Prefix, len(n.Pools))
	for i, p := range n.Pools {
		out[i] = p.Block
	}
	return out
}

// Gateways returns the pools' gateways, in pool order.
func (n NetworkInfo) Gateways() []netip.Addr {
	out := make([]netip.Addr, len(n.Pools))
	for i, p := range n.Pools {
		out[i] = p.Gateway
	}
	return out
}

// PoolOf returns the pool whose subnet holds ip.
func (n NetworkInfo) PoolOf(ip netip.Addr) (Pool, bool) {
	for _, p := range n.Pools {
		if p.Subnet.Contains(ip) {
			return p, true
		}
	}
	return Pool{}, false
}

// NetworksVersion is the format version of networks.json this release
// writes and the newest it reads (internal/stateformat).
const NetworksVersion = 1

// networksDoc is the file's top level: an object, so fields can be added
// without breaking older plugins. Version comes first in the file.
type networksDoc struct {
	Version  int           `json:"version"`
	Networks []NetworkInfo `json:"networks"`
}

// Validate checks what the plugin relies on; errors name the field as the
// file does (subnet, block6, ...).
func (n NetworkInfo) Validate() error {
	var errs []error
	if !ValidNetworkName(n.Name) {
		errs = append(errs, fmt.Errorf("name %q: must be 1-63 letters, digits, '_', '.', '-', starting with a letter or digit", n.Name))
	}
	if n.Bridge == "" || len(n.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("bridge %q: must be an interface name of 1-15 characters", n.Bridge))
	}
	pools := n.Pools
	switch {
	case len(pools) == 0:
		pools = []Pool{{}} // a network needs its first pool: report its fields missing
	case len(pools) > maxPools:
		errs = append(errs, fmt.Errorf("pools: %d, at most %d (IPv4, then IPv6)", len(pools), maxPools))
		pools = pools[:maxPools]
	}
	for i, p := range pools {
		errs = append(errs, p.validate(i)...)
	}
	if len(pools) == 2 && pools[0].Subnet.Addr().Is6() && pools[1].Subnet.Addr().Is6() {
		errs = append(errs, fmt.Errorf("subnet6 %s: subnet %s is IPv6 already (one pool per family)", pools[1].Subnet, pools[0].Subnet))
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		errs = append(errs, fmt.Errorf("mtu %d: must be 68..65535, or 0 for the bridge's", n.MTU))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	return nil
}

// maxPools: the file has keys for two pools, an IPv4 and an IPv6 one.
const maxPools = 2

// validate checks pool i of a network. Errors name the fields as the file
// does: subnet, block, gateway for the first pool, subnet6, block6,
// gateway6 for the second, which must be IPv6.
func (p Pool) validate(i int) []error {
	sfx := ""
	if i == 1 {
		sfx = "6"
	}
	subnet, block, gateway := "subnet"+sfx, "block"+sfx, "gateway"+sfx
	var errs []error
	switch {
	case !p.Subnet.IsValid():
		errs = append(errs, fmt.Errorf("%s: missing or invalid", subnet))
	case i == 1 && (!p.Subnet.Addr().Is6() || p.Subnet.Addr().Is4In6()):
		errs = append(errs, fmt.Errorf("%s %s: not IPv6", subnet, p.Subnet))
	}
	switch {
	case !p.Block.IsValid():
		errs = append(errs, fmt.Errorf("%s: missing or invalid", block))
	case p.Block != p.Block.Masked():
		errs = append(errs, fmt.Errorf("%s %s: has host bits set (%s)", block, p.Block, p.Block.Masked()))
	case p.Subnet.IsValid() && (p.Block.Bits() < p.Subnet.Bits() || !p.Subnet.Contains(p.Block.Addr())):
		errs = append(errs, fmt.Errorf("%s %s: not inside %s %s", block, p.Block, subnet, p.Subnet))
	}
	switch {
	case !p.Gateway.IsValid():
		errs = append(errs, fmt.Errorf("%s: missing or invalid", gateway))
	case p.Subnet.IsValid() && !p.Subnet.Contains(p.Gateway):
		errs = append(errs, fmt.Errorf("%s %s: not inside %s %s", gateway, p.Gateway, subnet, p.Subnet))
	}
	return errs
}

// WriteNetworks atomically replaces <stateDir>/networks.json with nets,
// after validating them. It refuses to replace a file in a newer format
// (a *stateformat.NewerError): the agent writes the file when it starts,
// so an agent downgraded past a format change stops there.
func WriteNetworks(stateDir string, nets []NetworkInfo) error {
	path := filepath.Join(stateDir, NetworksFile)
	if err := validateNetworks(nets); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.MkdirAll(stateDir, dirPerm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if b, err := os.ReadFile(path); err == nil {
		var ne *stateformat.NewerError
		if _, err := decodeNetworks(path, b); errors.As(err, &ne) {
			return err
		}
	}
	b, err := json.MarshalIndent(networksDoc{Version: NetworksVersion, Networks: nets}, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeFileAtomic(stateDir, NetworksFile, append(b, '\n'), filePerm)
}

// ReadNetworks reads <stateDir>/networks.json. When the agent has never
// written it, the error matches fs.ErrNotExist; when it is in a newer
// format than this release reads, it is a *stateformat.NewerError.
func ReadNetworks(stateDir string) ([]NetworkInfo, error) {
	path := filepath.Join(stateDir, NetworksFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read networks: %w", err)
	}
	nets, err := decodeNetworks(path, b)
	if err != nil {
		return nil, err
	}
	if err := validateNetworks(nets); err != nil {
		return nil, fmt.Errorf("read networks %s: %w", path, err)
	}
	return nets, nil
}

// decodeNetworks decodes the file at path, b: its version first, so that
// a newer file is refused as such before its networks fail to decode.
func decodeNetworks(path string, b []byte) ([]NetworkInfo, error) {
	var head struct {
		Version  int             `json:"version"`
		Networks json.RawMessage `json:"networks"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("read networks %s: %w", path, err)
	}
	if err := stateformat.Check(path, head.Version, NetworksVersion); err != nil {
		return nil, err
	}
	var nets []NetworkInfo
	if len(head.Networks) > 0 {
		if err := json.Unmarshal(head.Networks, &nets); err != nil {
			return nil, fmt.Errorf("read networks %s: %w", path, err)
		}
	}
	return nets, nil
}

func validateNetworks(nets []NetworkInfo) error {
	var errs []error
	seen := make(map[string]bool)
	for i, n := range nets {
		if err := n.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("networks[%d]: %w", i, err))
		}
		if seen[n.Name] {
			errs = append(errs, fmt.Errorf("networks[%d]: name %q: duplicate", i, n.Name))
		}
		seen[n.Name] = true
	}
	return errors.Join(errs...)
}
