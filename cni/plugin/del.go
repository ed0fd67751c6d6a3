package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// Del detaches the pod interface at: it deletes the veth (if it is still
// there, and unless another plugin made it: chained mode), releases the
// address and tells the agent. It needs neither the
// pod's netns, which may be gone, nor networks.json, and repeating it
// succeeds.
//
// The veth goes first: while it may still exist its address must stay
// taken, or a new pod could get it and both would answer for it. When the
// deletion fails, DEL fails and the runtime retries it.
func Del(ctx context.Context, d Deps, at Attachment) error {
	hostIf := HostVethName(at.ContainerID, at.IfName)
	rec, ok, err := d.Store.Get(at.ContainerID, at.IfName)
	if err != nil {
		return fmt.Errorf("look up container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	// A chained attachment's interface belongs to the plugin that made
	// it, whose own DEL removes it; ours is only the record.
	if !ok || !rec.Chained {
		if ok && rec.HostIf != "" && rec.HostIf != hostIf {
			// Written by another version of the plugin: delete what it made too.
			if err := deleteLink(d.Host, rec.HostIf); err != nil {
				return err
			}
		}
		if err := deleteLink(d.Host, hostIf); err != nil {
			return err
		}
	}
	if err := d.Store.Release(at.ContainerID, at.IfName); err != nil {
		return fmt.Errorf("release address of container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	actx, cancel := d.agentContext(ctx)
	defer cancel()
	if err := d.Agent.DelEndpoint(actx, at.ContainerID, at.IfName); err != nil && !isAgentNotFound(err) {
		// Not fatal: the agent drops endpoints that left the store.
		d.log().Warn("withdraw endpoint from vxbgpd; it will notice from the store", "dev", hostIf, "err", err)
	}
	return nil
}

// isAgentNotFound: the agent did not know the endpoint, which is what a
// repeated DEL (or one for a failed ADD) should expect.
func isAgentNotFound(err error) bool {
	var se *localapi.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
