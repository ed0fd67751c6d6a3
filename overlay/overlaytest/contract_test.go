package overlaytest_test

import (
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

func TestContract(t *testing.T) {
	overlaytest.Contract(t, func(t *testing.T) overlay.Dataplane {
		dp := overlaytest.New()
		t.Cleanup(func() {
			if v := dp.Violations(); len(v) > 0 {
				t.Errorf("fake invariants broken: %q", v)
			}
		})
		return dp
	})
}
