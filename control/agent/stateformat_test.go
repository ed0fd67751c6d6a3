package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/internal/stateformat"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestAgentRefusesNewerState: an agent started on a state directory a
// newer release wrote (a downgrade past a format change) stops at start
// with an error naming the file, and leaves the file and the kernel alone.
func TestAgentRefusesNewerState(t *testing.T) {
	for _, tc := range []struct{ name, file, content string }{
		{"networks.json", ipam.NetworksFile, `{"version": 2, "networks": {}}`},
		{"record", "ipam/pods/10.244.1.9", `{"version": 2, "ip": "10.244.1.9"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), "overlay")
			path := filepath.Join(cfg.StateDir, tc.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			dp := overlaytest.New()
			before := dp.State().String()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := RunWith(ctx, cfg, bgptest.Logger(t), Parts{
				Dataplane:  dp,
				NewSpeaker: func(context.Context, bgp.Config) (Speaker, error) { return bgptest.NewFake(t), nil },
			})
			want := path + ": format version 2 is newer than this vxbgp release supports (1); upgrade vxbgpd and vxbgp-cni, or restore the file"
			var ne *stateformat.NewerError
			if !errors.As(err, &ne) || ne.Error() != want {
				t.Fatalf("RunWith = %v\nwant an error ending in %s", err, want)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("%s changed to %s", tc.file, b)
			}
			if after := dp.State().String(); after != before {
				t.Errorf("kernel changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}
