package localapi

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
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
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPut, "/v1/endpoints/c1", bytes.NewReader(body))
		ep, err := decodeEndpoint(httptest.NewRecorder(), r)
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
