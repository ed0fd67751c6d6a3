package kube

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/vxbgp/vxbgp/control/config"
)

// TestScenariosFake runs the scenarios on the fake clientset.
func TestScenariosFake(t *testing.T) { scenarios(t, fake.NewClientset()) }

// TestStartDisabled: without kubernetes.enabled nothing is made or asked.
func TestStartDisabled(t *testing.T) {
	client := fake.NewClientset()
	k, err := Start(context.Background(), config.Default(), nil, Options{Client: client})
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
