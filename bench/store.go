package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// announce does what vxbgp-cni does for a wired pod, minus the veth:
// record the endpoint in h's IPAM store (the agent's truth, resynced every
// few seconds: an endpoint only PUT would be dropped), then PUT it to the
// agent. Records are written with a temporary name and renamed, as the
// store does, so the agent never reads half a file.
func announce(ctx context.Context, h *lab.Host, c *localapi.Client, ep localapi.Endpoint) error {
	if err := record(h, ep); err != nil {
		return err
	}
	return c.AddEndpoint(ctx, ep)
}

// record writes ep's store record in h's IPAM store, as the plugin does.
func record(h *lab.Host, ep localapi.Endpoint) error {
	ip, err := netip.ParseAddr(ep.IPs[0])
	if err != nil {
		return err
	}
	mac, err := overlay.ParseMAC(ep.MAC)
	if err != nil {
		return err
	}
	r := ipam.Record{ContainerID: ep.ContainerID, IfName: ep.IfName, CNINetwork: "vxbgp", Network: ep.Network,
		IPs: []netip.Addr{ip}, MAC: mac, Created: time.Now().UTC().Truncate(time.Second)}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(h.StateDir, "ipam", ep.Network)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+ip.String()+"-bench")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ip.String())); err != nil {
		return fmt.Errorf("record endpoint %s: %w", ep.ContainerID, err)
	}
	return nil
}

// withdraw undoes announce, in the order that keeps the agent from
// re-adding the endpoint: remove its store record, then DELETE it on the
// agent.
func withdraw(ctx context.Context, h *lab.Host, c *localapi.Client, ep localapi.Endpoint) error {
	p := filepath.Join(h.StateDir, "ipam", ep.Network, ep.IPs[0])
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove record of %s: %w", ep.ContainerID, err)
	}
	if err := c.DelEndpoint(ctx, ep.ContainerID, ep.IfName); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", ep.ContainerID, err)
	}
	return nil
}
