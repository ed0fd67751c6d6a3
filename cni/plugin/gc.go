package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// GC removes what the attachments of CNI network cniNetwork that are not
// in valid left behind: each one is detached as DEL would (veth, address,
// the agent's endpoint). Then it deletes host veths named like ours that
// no allocation of any network accounts for (an allocation is made before
// its veth and released after it, so such a veth was orphaned by hand or
// by another host's state directory being wiped).
//
// As the spec asks, it goes on after an error and returns them all.
// Allocations of other CNI networks are left alone, and so are those
// recorded without a CNI network name (written before the name was
// recorded): their owner cannot be told.
func GC(ctx context.Context, d Deps, cniNetwork string, valid []types.GCAttachment) error {
	keep := make(map[types.GCAttachment]bool, len(valid))
	for _, a := range valid {
		keep[a] = true
	}
	// The links are listed before the records: a veth that exists before
	// the records are read, and has none, cannot belong to an ADD in
	// progress, which allocates before it creates the veth.
	links, err := retryDump(d.Host.LinkList)
	if err != nil {
		return fmt.Errorf("gc network %s: list links: %w", cniNetwork, err)
	}
	recs, err := d.Store.List()
	if err != nil {
		return fmt.Errorf("gc network %s: %w", cniNetwork, err)
	}
	var errs []error
	accounted := make(map[string]bool, len(recs))
	for _, r := range recs {
		stale := r.CNINetwork == cniNetwork && cniNetwork != "" &&
			!keep[types.GCAttachment{ContainerID: r.ContainerID, IfName: r.IfName}]
		if !stale {
			accounted[HostVethName(r.ContainerID, r.IfName)] = true
			accounted[r.HostIf] = true
			continue
		}
		d.log().Info("gc: detach stale attachment", "container", r.ContainerID, "dev", r.IfName, "ip", r.IPs)
		if err := Del(ctx, d, Attachment{ContainerID: r.ContainerID, IfName: r.IfName}); err != nil {
			errs = append(errs, fmt.Errorf("gc container %s interface %s: %w", r.ContainerID, r.IfName, err))
			accounted[HostVethName(r.ContainerID, r.IfName)] = true
		}
	}
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || !isHostVethName(name) || accounted[name] {
			continue
		}
		// By index, not name: a veth of the same name created since the
		// listing belongs to a new ADD.
		d.log().Info("gc: delete orphaned host veth", "dev", name)
		if err := d.Host.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("gc: delete orphaned host veth %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// isHostVethName reports whether name is one HostVethName makes: "vxb"
// and 11 lowercase hex digits.
func isHostVethName(name string) bool {
	if len(name) != 14 || !strings.HasPrefix(name, "vxb") {
		return false
	}
	for _, c := range name[3:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
