package plugin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
)

// failingStore is the real store with Update failing, the last step of
// ADD before the agent is told: everything before it must be undone.
type failingStore struct {
	*ipam.Store
}

func (failingStore) Update(ipam.Record) error { return errors.New("disk full") }

// memAgent records calls and answers with err.
type memAgent struct {
	mu    sync.Mutex
	err   error
	calls []string
}

func (a *memAgent) AddEndpoint(_ context.Context, ep localapi.Endpoint) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "add "+ep.ContainerID+" "+strings.Join(ep.IPs, ","))
	return a.err
}

func (a *memAgent) DelEndpoint(_ context.Context, containerID, ifName string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "del "+containerID+" "+ifName)
	return a.err
}

// TestAddRollbackLate runs Add in-process with a store that fails at the
// end: the veth (both ends) and the address must be gone afterwards.
func TestAddRollbackLate(t *testing.T) {
	e := newTestEnv(t)
	agent := &memAgent{}
	d := Deps{Store: failingStore{e.store(t)}, Agent: agent, Host: e.hostH}
	_, err := Add(context.Background(), d, Attachment{ContainerID: "c1", IfName: "eth0", Netns: e.podPath}, e.net, 0)
	if err == nil || !strings.Contains(err.Error(), "record endpoint of container c1 interface eth0: disk full") {
		t.Fatalf("err = %v", err)
	}
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
	if _, err := e.podH.LinkByName("eth0"); !isNotFound(err) {
		t.Errorf("pod eth0 left (%v)", err)
	}
	if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
		t.Errorf("store holds %+v (%v)", recs, err)
	}
	if len(agent.calls) != 0 {
		t.Errorf("agent was told %v", agent.calls)
	}
}

// TestAgentErrorNotFatal: an agent that answers with an error does not
// fail ADD or DEL; it is logged.
func TestAgentErrorNotFatal(t *testing.T) {
	e := newTestEnv(t)
	agent := &memAgent{err: &localapi.StatusError{Code: 500, Message: "reconciler stuck"}}
	var logs bytes.Buffer
	d := Deps{Store: e.store(t), Agent: agent, Host: e.hostH, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	at := Attachment{ContainerID: "c1", IfName: "eth0", Netns: e.podPath}
	res, err := Add(context.Background(), d, at, e.net, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.244.1.1/16" {
		t.Errorf("result IPs %v", res.IPs)
	}
	if err := Del(context.Background(), d, at); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(agent.calls, "; "); got != "add c1 10.244.1.1; del c1 eth0" {
		t.Errorf("agent calls: %s", got)
	}
	for _, want := range []string{"announce endpoint to vxbgpd", "withdraw endpoint from vxbgpd", "reconciler stuck"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// A 404 on DEL is what a repeated DEL expects: not worth a warning.
	logs.Reset()
	agent.err = &localapi.StatusError{Code: 404, Message: "no such endpoint"}
	if err := Del(context.Background(), d, at); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("repeated DEL logged: %s", logs.String())
	}
}
