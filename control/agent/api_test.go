package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// The API's status says why the agent is not ready: the reconciler's last
// error, until a pass succeeds; and it splits the routes by family.
func TestAgentStatusLastError(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	storeEndpoint(t, cfg, "stored", "02:00:00:00:01:01", "10.244.1.11")
	dp := overlaytest.New()
	const remoteMAC = "02:00:00:00:02:01"
	dp.FailOn(func(op overlay.Op) bool { return strings.Contains(op.String(), remoteMAC) })
	r := startAgent(t, cfg, dp)
	ctx := context.Background()

	r.sp.Deliver(remoteType2(t, remoteMAC, "10.244.2.1", false))
	var st localapi.Status
	bgptest.WaitFor(t, "the failure in the status", 10*time.Second, func() bool {
		st, _ = r.api.Status(ctx)
		return strings.Contains(st.LastError, overlaytest.ErrInjected.Error())
	})
	if st.Ready {
		t.Errorf("Status = %+v: ready with a last error", st)
	}
	// Ours: the block, the stored pod's type-2 and the VNI's type-3; the
	// peer's type-2.
	want := []localapi.FamilyCount{{Family: localapi.FamilyIPv4, Advertised: 1}, {Family: localapi.FamilyEVPN, Received: 1, Advertised: 2}}
	if !slices.Equal(st.Families, want) || st.RoutesReceived != 1 || st.RoutesAdvertised != 3 {
		t.Errorf("Status routes: %d received, %d advertised, families %+v; want %+v", st.RoutesReceived, st.RoutesAdvertised, st.Families, want)
	}

	dp.FailOn(nil)
	bgptest.WaitFor(t, "the error to clear once a pass succeeds", 30*time.Second, func() bool {
		st, _ = r.api.Status(ctx)
		return st.LastError == ""
	})
	kernelHas(t, dp, "the peer's pod in the kernel", []string{fdb(remoteMAC)}, nil)
}
