package bgptest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// The child gets its environment and listen address, reports ready, and
// exits cleanly on SIGTERM; what it wrote to standard error is kept.
func TestChild(t *testing.T) {
	c := bgptest.StartChild(t, "TestChildBody", bgptest.ChildOptions{Name: "echo", Listen: "127.0.0.1:1179",
		Env: []string{"VXBGP_BGPTEST_WORD=hello"}})
	c.Terminate(t)
	if got, want := c.Stderr(), "hello 127.0.0.1 1179 64512 terminated\n"; got != want {
		t.Fatalf("child stderr %q, want %q", got, want)
	}
}

func TestChildBody(t *testing.T) {
	bgptest.RunChild(t, func(ctx context.Context, c bgp.Config) error {
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, strings.Join([]string{os.Getenv("VXBGP_BGPTEST_WORD"), c.ListenAddress,
			fmt.Sprint(c.ListenPort), fmt.Sprint(c.ASN), "terminated"}, " "))
		return nil
	})
}
