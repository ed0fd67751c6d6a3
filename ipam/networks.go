package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// NetworksFile is the name, in the state directory, of the file the agent
// writes its networks to.
const NetworksFile = "networks.json"

// NetworkInfo is what the CNI plugin needs to know about one network to
// attach pods to it without asking the agent.
type NetworkInfo struct {
	Name    string       `json:"name"`
	VNI     uint32       `json:"vni"`
	Bridge  string       `json:"bridge"`  // e.g. vxbr100, holds Gateway/Subnet.Bits()
	Subnet  netip.Prefix `json:"subnet"`  // cluster-wide pool; pods get its prefix length
	Block   netip.Prefix `json:"block"`   // this host's share, pods' addresses come from here
	Gateway netip.Addr   `json:"gateway"` // anycast gateway, the pods' default route
	MTU     int          `json:"mtu"`     // of the pods' interfaces; 0: the bridge's
	// Dual-stack networks: the IPv6 subnet, this host's IPv6 block and the
	// IPv6 anycast gateway; all zero (and absent from the file) otherwise.
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`
	Block6   netip.Prefix `json:"block6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
}

// DualStack reports whether the network has IPv6 too.
func (n NetworkInfo) DualStack() bool { return n.Subnet6.IsValid() }

// networksDoc is the file's top level: an object, so fields can be added
// without breaking older plugins.
type networksDoc struct {
	Networks []NetworkInfo `json:"networks"`
}

// Validate checks what the plugin relies on; errors name the field.
func (n NetworkInfo) Validate() error {
	var errs []error
	if !ValidNetworkName(n.Name) {
		errs = append(errs, fmt.Errorf("name %q: must be 1-63 letters, digits, '_', '.', '-', starting with a letter or digit", n.Name))
	}
	if n.Bridge == "" || len(n.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("bridge %q: must be an interface name of 1-15 characters", n.Bridge))
	}
	if !n.Subnet.IsValid() {
		errs = append(errs, errors.New("subnet: missing or invalid"))
	}
	switch {
	case !n.Block.IsValid():
		errs = append(errs, errors.New("block: missing or invalid"))
	case n.Block != n.Block.Masked():
		errs = append(errs, fmt.Errorf("block %s: has host bits set (%s)", n.Block, n.Block.Masked()))
	case n.Subnet.IsValid() && (n.Block.Bits() < n.Subnet.Bits() || !n.Subnet.Contains(n.Block.Addr())):
		errs = append(errs, fmt.Errorf("block %s: not inside subnet %s", n.Block, n.Subnet))
	}
	switch {
	case !n.Gateway.IsValid():
		errs = append(errs, errors.New("gateway: missing or invalid"))
	case n.Subnet.IsValid() && !n.Subnet.Contains(n.Gateway):
		errs = append(errs, fmt.Errorf("gateway %s: not inside subnet %s", n.Gateway, n.Subnet))
	}
	if n.Subnet6.IsValid() || n.Block6.IsValid() || n.Gateway6.IsValid() {
		errs = append(errs, n.validate6()...)
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		errs = append(errs, fmt.Errorf("mtu %d: must be 68..65535, or 0 for the bridge's", n.MTU))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	return nil
}

// validate6 checks the IPv6 fields of a dual-stack network.
func (n NetworkInfo) validate6() []error {
	var errs []error
	switch {
	case !n.Subnet6.IsValid():
		errs = append(errs, errors.New("subnet6: missing or invalid"))
	case !n.Subnet6.Addr().Is6() || n.Subnet6.Addr().Is4In6():
		errs = append(errs, fmt.Errorf("subnet6 %s: not IPv6", n.Subnet6))
	}
	switch {
	case !n.Block6.IsValid():
		errs = append(errs, errors.New("block6: missing or invalid"))
	case n.Block6 != n.Block6.Masked():
		errs = append(errs, fmt.Errorf("block6 %s: has host bits set (%s)", n.Block6, n.Block6.Masked()))
	case n.Subnet6.IsValid() && (n.Block6.Bits() < n.Subnet6.Bits() || !n.Subnet6.Contains(n.Block6.Addr())):
		errs = append(errs, fmt.Errorf("block6 %s: not inside subnet6 %s", n.Block6, n.Subnet6))
	}
	switch {
	case !n.Gateway6.IsValid():
		errs = append(errs, errors.New("gateway6: missing or invalid"))
	case n.Subnet6.IsValid() && !n.Subnet6.Contains(n.Gateway6):
		errs = append(errs, fmt.Errorf("gateway6 %s: not inside subnet6 %s", n.Gateway6, n.Subnet6))
	}
	return errs
}

// WriteNetworks atomically replaces <stateDir>/networks.json with nets,
// after validating them.
func WriteNetworks(stateDir string, nets []NetworkInfo) error {
	path := filepath.Join(stateDir, NetworksFile)
	if err := validateNetworks(nets); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.MkdirAll(stateDir, dirPerm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	b, err := json.MarshalIndent(networksDoc{Networks: nets}, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeFileAtomic(stateDir, NetworksFile, append(b, '\n'), filePerm)
}

// ReadNetworks reads <stateDir>/networks.json. When the agent has never
// written it, the error matches fs.ErrNotExist.
func ReadNetworks(stateDir string) ([]NetworkInfo, error) {
	path := filepath.Join(stateDir, NetworksFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read networks: %w", err)
	}
	var doc networksDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read networks %s: %w", path, err)
	}
	if err := validateNetworks(doc.Networks); err != nil {
		return nil, fmt.Errorf("read networks %s: %w", path, err)
	}
	return doc.Networks, nil
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
