package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/atomicfile"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// announce does what vxbgp-cni does for a wired pod, minus the veth:
// record the endpoint in h's IPAM store (the agent's truth, resynced every
// few seconds: an endpoint only PUT would be dropped), then PUT it to the
// agent.
func announce(ctx context.Context, h *lab.Host, c *localapi.Client, ep localapi.Endpoint) error {
	if err := recordDir(h, ep.Network); err != nil {
		return err
	}
	if err := record(h, ep); err != nil {
		return err
	}
	return c.AddEndpoint(ctx, ep)
}

// recordDir creates the directory of network's records in h's IPAM
// store, which record needs: the plugin's Allocate creates it.
func recordDir(h *lab.Host, network string) error {
	return os.MkdirAll(filepath.Join(h.StateDir, "ipam", network), 0o755)
}

// record writes ep's store record in h's IPAM store (recordDir made its
// directory) as the plugin's last write of an ADD leaves it: the same
// bytes (ipam.Record's JSON and a newline) written the same way
// (atomicfile.Write, which ipam's store uses), so the agent never reads
// half a file.
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
	b, err := r.MarshalJSON() // as ipam's Store.write
	if err != nil {
		return err
	}
	dir := filepath.Join(h.StateDir, "ipam", ep.Network)
	if err := atomicfile.Write(dir, ip.String(), append(b, '\n'), 0o644); err != nil {
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
