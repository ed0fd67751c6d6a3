package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/atomicfile"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// StoredEndpoint is an endpoint without a pod: what vxbgp-cni records and
// announces after it wired a pod, minus the veth, so that a test can have
// thousands of them on a host (bench does the same).
type StoredEndpoint struct {
	ContainerID string
	MAC         string // lowercase
	IP          netip.Addr
	Host        *Host
}

// API is the endpoint as the local API takes it.
func (e StoredEndpoint) API() localapi.Endpoint {
	return localapi.Endpoint{ContainerID: e.ContainerID, IfName: "eth0", Network: NetworkName, MAC: e.MAC, IPs: []string{e.IP.String()}}
}

// recordDir is the store directory of the lab network on h.
func (h *Host) recordDir() string { return filepath.Join(h.StateDir, "ipam", NetworkName) }

// Record writes e's record to its host's address store, as the plugin's
// ADD leaves it (the agent's truth: read at start and every resync):
// written whole to a temporary file and renamed, as the store does, so the
// agent never reads half a record.
func (e StoredEndpoint) Record() error {
	mac, err := overlay.ParseMAC(e.MAC)
	if err != nil {
		return err
	}
	r := ipam.Record{ContainerID: e.ContainerID, IfName: "eth0", CNINetwork: "vxbgp", Network: NetworkName,
		IPs: []netip.Addr{e.IP}, MAC: mac, Created: time.Now().UTC().Truncate(time.Second)}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dir := e.Host.recordDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(dir, e.IP.String(), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record endpoint %s on %s: %w", e.ContainerID, e.Host.Name, err)
	}
	return nil
}

// Unrecord removes e's record, as the plugin's DEL does; a record already
// gone is no error.
func (e StoredEndpoint) Unrecord() error {
	if err := os.Remove(filepath.Join(e.Host.recordDir(), e.IP.String())); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove record of %s on %s: %w", e.ContainerID, e.Host.Name, err)
	}
	return nil
}

// Stored reports whether e's record exists.
func (e StoredEndpoint) Stored() bool {
	_, err := os.Stat(filepath.Join(e.Host.recordDir(), e.IP.String()))
	return err == nil
}

// Announce records e, then PUTs it to the agent (the plugin's order). A
// failed PUT is returned apart: the agent may be down, and then it reads
// the record when it starts.
func (e StoredEndpoint) Announce(ctx context.Context, c *localapi.Client) (putErr, err error) {
	if err := e.Record(); err != nil {
		return nil, err
	}
	return c.AddEndpoint(ctx, e.API()), nil
}

// Withdraw removes e's record, then DELETEs it on the agent (the order
// that keeps a store read from re-adding it); a failed DELETE is returned
// apart, as in Announce.
func (e StoredEndpoint) Withdraw(ctx context.Context, c *localapi.Client) (delErr, err error) {
	if err := e.Unrecord(); err != nil {
		return nil, err
	}
	return c.DelEndpoint(ctx, e.ContainerID, "eth0"), nil
}
