package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"

	"github.com/vxbgp/vxbgp/control/config"
)

// fakeNodes is the fake clientset's Nodes as a Client. Like the clientset
// it says it cannot stream the first list (WatchList), so the informer
// lists instead of waiting for a bookmark that never comes.
type fakeNodes struct{ typedcorev1.NodeInterface }

func (fakeNodes) IsWatchListSemanticsUnSupported() bool { return true }

// TestScenariosFake runs the scenarios on the fake clientset.
func TestScenariosFake(t *testing.T) {
	client := fake.NewClientset()
	scenarios(t, client, fakeNodes{client.CoreV1().Nodes()})
}

// TestStartDisabled: without kubernetes.enabled nothing is made or asked.
func TestStartDisabled(t *testing.T) {
	client := fake.NewClientset()
	k, err := Start(context.Background(), config.Default(), nil, Options{Client: fakeNodes{client.CoreV1().Nodes()}})
	if k != nil || err != nil {
		t.Fatalf("Start = %v, %v; want nil, nil", k, err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d API calls, want none", n)
	}
	k.Close() // a nil *Kube closes
	if s := k.PeerSources(); s != nil {
		t.Errorf("peer sources %v, want none", s)
	}
}

// TestStartAPIRefuses: while the API server refuses the list (RBAC
// missing, say), /readyz and the log say so.
func TestStartAPIRefuses(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no RBAC"))
	})
	cfg := kubeConfig(t, "n1")
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	ctx, cancel := context.WithCancel(context.Background())
	var logs logBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Start(ctx, cfg, logs.logger(t), Options{Client: fakeNodes{client.CoreV1().Nodes()}})
	}()
	defer func() { cancel(); <-done }()
	bgptest.WaitFor(t, "readyz naming the refusal", 30*time.Second, func() bool {
		code, body := get("http://" + cfg.Metrics.Listen + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no Node list from the API server yet") && strings.Contains(body, "forbidden")
	})
	bgptest.WaitFor(t, "the log naming the refusal", 10*time.Second, func() bool { return strings.Contains(logs.String(), "forbidden") })
}
