package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Ping sends count echo requests from namespace ns ("" for this
// process's own) to ip (one every 200 ms, answers awaited up to 2 s after
// the last) and returns how many were answered. The lab sends them itself (no ping binary). It fails only
// when it could not ping at all: no socket, ctx ended, or no request could
// be sent.
func Ping(ctx context.Context, ns, ip string, count int) (PingStats, error) {
	if count < 1 {
		return PingStats{}, fmt.Errorf("ping %s from %s: count %d, want at least 1", ip, ns, count)
	}
	r, err := startEcho(ctx, ns, ip, 200*time.Millisecond, 2*time.Second, count, 0)
	if err != nil {
		return PingStats{}, fmt.Errorf("ping %s from %s: %w", ip, ns, err)
	}
	<-r.done
	st := r.stats()
	r.mu.Lock()
	endErr, sendErr := r.endErr, r.sendErr
	r.mu.Unlock()
	switch {
	case endErr != nil:
		return st, fmt.Errorf("ping %s from %s: %w", ip, ns, endErr)
	case st.Received == 0 && sendErr != nil:
		return st, fmt.Errorf("ping %s from %s: %w", ip, ns, sendErr)
	}
	// Missing replies are no error; the counts say that, as ping's did.
	return st, nil
}

// PingStats is what ping's summary line said: requests sent and
// requests answered.
type PingStats struct {
	Transmitted, Received int
}

// Lost is the number of unanswered requests.
func (s PingStats) Lost() int { return s.Transmitted - s.Received }

// Endpoint is anything that can send and answer pings: a pod or an FRR
// host's server.
type Endpoint interface {
	Label() string // short name for the matrix
	Netns() string
	Addr() string
}

// Label, Netns and Addr make a Pod an Endpoint.
func (p *Pod) Label() string { return p.Name }
func (p *Pod) Netns() string { return p.NS }
func (p *Pod) Addr() string  { return p.IP.String() }

// Matrix is the result of pinging every ordered pair of endpoints.
type Matrix struct {
	Endpoints []Endpoint
	OK        map[[2]int]bool
	Errs      map[[2]int]error
	Took      time.Duration
}

// PingMatrix pings every ordered pair (from != to) with up to two requests,
// a few pairs at a time, and returns the grid. A pair is OK when one request
// is answered: the first packet must get through, since ARP for every
// remote endpoint is answered by the local bridge.
func PingMatrix(ctx context.Context, eps []Endpoint) *Matrix {
	m := &Matrix{Endpoints: eps, OK: map[[2]int]bool{}, Errs: map[[2]int]error{}}
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // 2 cores: more would only queue
	for i := range eps {
		for j := range eps {
			if i == j {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i, j int) {
				defer wg.Done()
				defer func() { <-sem }()
				ok, err := pingOnce(ctx, eps[i].Netns(), eps[j].Addr())
				mu.Lock()
				m.OK[[2]int{i, j}] = ok
				if err != nil {
					m.Errs[[2]int{i, j}] = err
				}
				mu.Unlock()
			}(i, j)
		}
	}
	wg.Wait()
	m.Took = time.Since(start)
	return m
}

// pingOnce sends one request and, only if it is lost, a second: the answer
// to "can from reach to" should not hinge on one packet on a busy machine,
// and a second loss is a real failure.
func pingOnce(ctx context.Context, ns, ip string) (bool, error) {
	var err error
	for range 2 {
		var st PingStats
		st, err = Ping(ctx, ns, ip, 1)
		if err == nil && st.Received == 1 {
			return true, nil
		}
		if err == nil {
			err = fmt.Errorf("ping %s from %s: no answer within 2 s", ip, ns)
		}
	}
	return false, err
}

// Pairs is the number of ordered pairs.
func (m *Matrix) Pairs() int { return len(m.OK) }

// Failed lists the failed pairs as "from->to".
func (m *Matrix) Failed() []string {
	var out []string
	for i, a := range m.Endpoints {
		for j, b := range m.Endpoints {
			if ok, tried := m.OK[[2]int{i, j}]; tried && !ok {
				out = append(out, fmt.Sprintf("%s->%s (%s)", a.Label(), b.Label(), b.Addr()))
			}
		}
	}
	return out
}

// String renders the grid: rows are senders, columns receivers.
func (m *Matrix) String() string {
	var b strings.Builder
	w := 6
	for _, e := range m.Endpoints {
		w = max(w, len(e.Label())+1)
	}
	fmt.Fprintf(&b, "%-*s", w+2, "from\\to")
	for _, e := range m.Endpoints {
		fmt.Fprintf(&b, "%-*s", w, e.Label())
	}
	b.WriteString("\n")
	for i, a := range m.Endpoints {
		fmt.Fprintf(&b, "%-*s", w+2, a.Label())
		for j := range m.Endpoints {
			cell := "-"
			if ok, tried := m.OK[[2]int{i, j}]; tried {
				cell = "FAIL"
				if ok {
					cell = "OK"
				}
			}
			fmt.Fprintf(&b, "%-*s", w, cell)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d/%d pairs OK in %v\n", m.Pairs()-len(m.Failed()), m.Pairs(), m.Took.Round(time.Millisecond))
	return b.String()
}

// PodEndpoints converts pods for PingMatrix.
func PodEndpoints(pods []*Pod) []Endpoint {
	out := make([]Endpoint, len(pods))
	for i, p := range pods {
		out[i] = p
	}
	return out
}

// pod6 is a pod as an Endpoint by its IPv6 address.
type pod6 struct{ *Pod }

func (p pod6) Addr() string { return p.IP6.String() }

// PodEndpoints6 makes dual-stack pods Endpoints by their IPv6 addresses;
// pods without one are left out.
func PodEndpoints6(pods []*Pod) []Endpoint {
	var eps []Endpoint
	for _, p := range pods {
		if p.IP6.IsValid() {
			eps = append(eps, pod6{p})
		}
	}
	return eps
}
