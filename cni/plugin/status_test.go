package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
)

// statusAgent answers Status with st or err.
type statusAgent struct {
	st  localapi.Status
	err error
}

func (a statusAgent) Status(context.Context) (localapi.Status, error) { return a.st, a.err }

// STATUS follows the agent: 50 while it is unreachable or not ready,
// success once it is ready. Chained, so that no bridge (and no root) is
// needed.
func TestStatusFollowsAgent(t *testing.T) {
	stateDir := t.TempDir()
	if err := ipam.WriteNetworks(stateDir, []ipam.NetworkInfo{testNetwork()}); err != nil {
		t.Fatal(err)
	}
	conf := &NetConf{Chained: true, StateDir: stateDir, Socket: "/run/vxbgp/test.sock"}
	for _, tc := range []struct {
		name  string
		agent statusAgent
		conf  *NetConf
		want  string // substring of the error; "" => ready
	}{
		{"ready", statusAgent{st: localapi.Status{Synced: true, Ready: true}}, conf, ""},
		{"unreachable", statusAgent{err: errors.New("dial unix /run/vxbgp/test.sock: connect: no such file or directory")}, conf,
			"not ready: agent at /run/vxbgp/test.sock unreachable: dial unix"},
		{"starting", statusAgent{st: localapi.Status{}}, conf, "not ready: agent at /run/vxbgp/test.sock is starting (synced false)"},
		{"synced but a kernel operation failing", statusAgent{st: localapi.Status{Synced: true}}, conf, "is starting (synced true)"},
		{"no networks.json", statusAgent{st: localapi.Status{Synced: true, Ready: true}}, &NetConf{Chained: true, StateDir: t.TempDir()}, "not ready: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Status(context.Background(), nil, tc.conf, tc.agent)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Status = %v, want ready", err)
				}
				return
			}
			if err == nil || Code(err) != types.ErrPluginNotAvailable || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Status = %v (code %d), want code 50 with %q", err, Code(err), tc.want)
			}
		})
	}
}
