package lab

import (
	"context"
	"fmt"
	"time"
)

// remoteMAC is a MAC that should be reachable through the tunnel: a pod's
// or a server's, behind VTEP.
type remoteMAC struct {
	Label string
	MAC   string
	IP    string
	VTEP  string
}

// remoteMACs lists every pod and server MAC with its VTEP.
func (l *Lab) remoteMACs() []remoteMAC {
	var out []remoteMAC
	for _, p := range l.Pods() {
		out = append(out, remoteMAC{Label: p.Name, MAC: p.MAC, IP: p.IP.String(), VTEP: p.Host.Addr})
	}
	for _, f := range l.FRR {
		out = append(out, remoteMAC{Label: f.Name + "srv", MAC: f.ServerMAC, IP: f.ServerIP, VTEP: f.Addr})
	}
	return out
}

// missingRemote returns the remote MACs (those behind another VTEP than
// vtep) that ns's vxlan device has no "self dst VTEP" entry for.
func (l *Lab) missingRemote(ctx context.Context, ns, vtep string) ([]string, error) {
	fdb, err := ReadFDB(ctx, ns, VXLANDev)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, r := range l.remoteMACs() {
		if r.VTEP == vtep {
			continue
		}
		if _, ok := RemoteEntry(fdb, r.MAC, r.VTEP); !ok {
			missing = append(missing, fmt.Sprintf("%s(%s dst %s)", r.Label, r.MAC, r.VTEP))
		}
	}
	return missing, nil
}

// WaitConverged waits until every host's and every FRR host's vxlan device
// has a remote entry for every pod and server behind another VTEP, and
// returns how long that took.
func (l *Lab) WaitConverged(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	type node struct{ name, ns, vtep string }
	var nodes []node
	for _, h := range l.Hosts {
		nodes = append(nodes, node{h.Name, h.NS, h.Addr})
	}
	for _, f := range l.FRR {
		nodes = append(nodes, node{f.Name, f.NS, f.Addr})
	}
	for _, n := range nodes {
		err := Eventually(ctx, n.name+" FDB to hold every remote MAC", pollFast*2, func(ctx context.Context) (bool, error) {
			missing, err := l.missingRemote(ctx, n.ns, n.vtep)
			if err != nil {
				return false, err
			}
			if len(missing) > 0 {
				return false, fmt.Errorf("missing %v", missing)
			}
			return true, nil
		})
		if err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	l.logf("lab %s: FDBs converged after %v", l.ID, d.Round(time.Millisecond))
	return d, nil
}
