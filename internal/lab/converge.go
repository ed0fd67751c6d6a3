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
	var checks []check
	add := func(name, ns, vtep string) {
		checks = append(checks, check{name + " FDB to hold every remote MAC", func(ctx context.Context) ([]string, error) {
			return l.missingRemote(ctx, ns, vtep)
		}})
	}
	for _, h := range l.Hosts {
		add(h.Name, h.NS, h.Addr)
	}
	for _, f := range l.FRR {
		add(f.Name, f.NS, f.Addr)
	}
	return l.waitAll(ctx, "FDBs converged", checks)
}
