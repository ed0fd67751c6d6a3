package localapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
)

// FuzzDecodeEndpoint: a PUT body from a CNI plugin (or anything that can
// reach the socket) either decodes into an endpoint with every field the
// agent needs, well-formed, or is refused; never a panic.
func FuzzDecodeEndpoint(f *testing.F) {
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5"],"network":"pods"}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5","fd00::5"]}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","mac":"zz","ips":["10.244.1.5"]}{}`))
	f.Add([]byte(`{"containerID":"","ips":null}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5"]} `))
	f.Add([]byte(`{"ips":"10.244.1.5"}`))
	f.Add([]byte(` { "containerID" : "c1", "ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5"],"ips":[],"chained":true,"hostIf":"v1","netns":"/n"}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["fd00::5","10.244.1.5"],"ips":["10.244.1.6"],"chained":false}`))
	f.Add([]byte(`{"containerid":"c\u0031","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5"],"extra":{"a":[1]}}`))
	bufs := &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPut, "/v1/endpoints/c1", bytes.NewReader(body))
		ep, err := decodeEndpoint(httptest.NewRecorder(), r, bufs)
		// The same answer as a json.Decoder's, the way it was decoded
		// before the pooled buffer.
		want, werr := decoderJSON(body)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || (err == nil && !reflect.DeepEqual(ep, want)) {
			t.Fatalf("decodeEndpoint = %+v, %v; a json.Decoder reads %+v, %v", ep, err, want, werr)
		}
		if err != nil {
			return
		}
		if ep.ContainerID == "" || ep.IfName == "" || len(ep.IPs) == 0 {
			t.Fatalf("accepted an endpoint with a field missing: %+v", ep)
		}
		if _, err := net.ParseMAC(ep.MAC); err != nil {
			t.Fatalf("accepted mac %q", ep.MAC)
		}
		for _, ip := range ep.IPs {
			if net.ParseIP(ip) == nil {
				t.Fatalf("accepted ip %q", ip)
			}
		}
	})
}

// decoderJSON is the JSON part of decodeEndpoint as it was, with a
// json.Decoder on the body, followed by the same checks.
func decoderJSON(body []byte) (Endpoint, error) {
	var ep Endpoint
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ep); err != nil {
		return ep, fmt.Errorf("endpoint: bad JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ep, errors.New("endpoint: bad JSON body: data after the endpoint")
	}
	return ep, checkEndpoint(ep)
}

// The body the plugin sends takes the fast path: were it to stop (a new
// field), every PUT would pay for encoding/json again, unnoticed.
func TestPluginBodyDecodesFast(t *testing.T) {
	ep := Endpoint{ContainerID: "0123456789abcdef", IfName: "eth0", Network: "pods", HostIf: "vxb0123456789a",
		MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5", "fd00::5"}, Netns: "/var/run/netns/cni-1", Chained: true}
	b, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	var got Endpoint
	if !decodeEndpointFast(b, &got) {
		t.Fatalf("%s: not decoded by decodeEndpointFast", b)
	}
	if !reflect.DeepEqual(got, ep) {
		t.Errorf("decodeEndpointFast(%s) = %+v, want %+v", b, got, ep)
	}
}
