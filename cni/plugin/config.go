package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vxbgp/vxbgp/internal/stateformat"
	"github.com/vxbgp/vxbgp/ipam"
)

// Defaults of the config keys; they match the agent's (control/config).
const (
	DefaultSocket   = "/run/vxbgp/vxbgp.sock"
	DefaultStateDir = "/var/lib/vxbgp"
)

// NetConf is the plugin's network configuration: the CNI spec's keys plus ours.
type NetConf struct {
	types.PluginConf
	LogConf
	Network  string `json:"network,omitempty"`
	Socket   string `json:"socket,omitempty"`
	MTU      int    `json:"mtu,omitempty"`
	StateDir string `json:"stateDir,omitempty"`
	// Chained: another plugin before this one in the chain made the pod
	// interface and its addresses; vxbgp-cni only records and announces
	// them (chained.go).
	Chained bool `json:"chained,omitempty"`
}

// ParseConf decodes the config from stdin and fills in defaults. Errors
// are CNI code 7 and name the offending field.
func ParseConf(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// encoding/json names a key of an embedded struct by the
			// struct's Go name too; the config has no such level.
			field := strings.TrimPrefix(te.Field, "LogConf.")
			return nil, configError(field, fmt.Errorf("got a JSON %s, want %s", te.Value, jsonKind(te.Type)))
		}
		return nil, withCode(types.ErrInvalidNetworkConfig, fmt.Errorf("parse network config: %w", err))
	}
	if conf.RawPrevResult != nil {
		if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
			return nil, configError("prevResult", err)
		}
	}
	if conf.Socket == "" {
		conf.Socket = DefaultSocket
	}
	if conf.StateDir == "" {
		conf.StateDir = DefaultStateDir
	}
	if !filepath.IsAbs(conf.StateDir) {
		return nil, configError("stateDir", fmt.Errorf("%q: must be an absolute path", conf.StateDir))
	}
	if conf.MTU != 0 && (conf.MTU < 68 || conf.MTU > 65535) {
		return nil, configError("mtu", fmt.Errorf("%d: must be 68..65535", conf.MTU))
	}
	if conf.Network != "" && !ipam.ValidNetworkName(conf.Network) {
		return nil, configError("network", fmt.Errorf("%q: not a valid network name", conf.Network))
	}
	if err := conf.LogConf.check(); err != nil {
		return nil, err
	}
	return conf, nil
}

// LookupNetwork reads the agent's networks.json from stateDir and returns
// the configured network (or the first one). Errors are CNI code 7.
func (c *NetConf) LookupNetwork() (ipam.NetworkInfo, error) {
	nets, err := ipam.ReadNetworks(c.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return ipam.NetworkInfo{}, configError("stateDir", fmt.Errorf("%s has no %s: vxbgpd writes it when it starts; is this the agent's stateDir?", c.StateDir, ipam.NetworksFile))
	}
	var ne *stateformat.NewerError
	if errors.As(err, &ne) {
		// Not the config's fault: a newer vxbgpd wrote the file.
		return ipam.NetworkInfo{}, withCode(types.ErrDecodingFailure, err)
	}
	if err != nil {
		return ipam.NetworkInfo{}, configError("stateDir", err)
	}
	if c.Network == "" {
		if len(nets) == 0 {
			return ipam.NetworkInfo{}, configError("network", fmt.Errorf("not set, and %s lists no networks", filepath.Join(c.StateDir, ipam.NetworksFile)))
		}
		return nets[0], nil
	}
	names := make([]string, 0, len(nets))
	for _, n := range nets {
		if n.Name == c.Network {
			return n, nil
		}
		names = append(names, n.Name)
	}
	return ipam.NetworkInfo{}, configError("network", fmt.Errorf("%q is not in %s (it has: %s)",
		c.Network, filepath.Join(c.StateDir, ipam.NetworksFile), strings.Join(names, ", ")))
}

// jsonKind names what JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// configError is a code 7 error naming the config key.
func configError(field string, err error) error {
	return withCode(types.ErrInvalidNetworkConfig, fmt.Errorf("network config key %q: %w", field, err))
}
