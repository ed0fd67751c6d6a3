package plugin

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
)

func TestHostVethName(t *testing.T) {
	tests := []struct {
		cid, ifName, want string
	}{
		{"c1", "eth0", "vxb" + sha1Hex("c1eth0")[:11]},
		{"c1", "eth1", "vxb" + sha1Hex("c1eth1")[:11]},
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0", "vxb" + sha1Hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "eth0")[:11]},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := HostVethName(tt.cid, tt.ifName)
		if got != tt.want || len(got) != 14 {
			t.Errorf("HostVethName(%q, %q) = %q, want %q (14 characters)", tt.cid, tt.ifName, got, tt.want)
		}
		if seen[got] {
			t.Errorf("%q twice", got)
		}
		seen[got] = true
	}
	// Pinned: the naming must not change between versions, since DEL
	// finds the veths of pods attached by an older plugin by it.
	// sha1("c1eth0") = 0924fa252d67...
	if got := HostVethName("c1", "eth0"); got != "vxb0924fa252d6" {
		t.Errorf("HostVethName(c1, eth0) = %q; the naming changed", got)
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestCode(t *testing.T) {
	inner := withCode(types.ErrTryAgainLater, errors.New("bridge vxbr100 missing"))
	tests := []struct {
		name    string
		err     error
		code    uint
		message string
	}{
		{"plain", errors.New("boom"), types.ErrInternal, "boom"},
		{"coded", inner, 11, "bridge vxbr100 missing"},
		{"coded and wrapped", fmt.Errorf("add: %w", inner), 11, "add: bridge vxbr100 missing"},
		{"cni error", fmt.Errorf("x: %w", types.NewError(8, "netns", "")), 8, "x: netns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var te *types.Error
			if !errors.As(toCNIError(tt.err), &te) {
				t.Fatal("not a *types.Error")
			}
			// The whole message survives: skel prints te as it is.
			if te.Code != tt.code || te.Msg != tt.message {
				t.Errorf("= %d %q, want %d %q", te.Code, te.Msg, tt.code, tt.message)
			}
		})
	}
	if toCNIError(nil) != nil {
		t.Error("toCNIError(nil) != nil")
	}
}

func TestHasDefaultVia(t *testing.T) {
	gw := net.ParseIP("10.244.0.1")
	_, dflt, _ := net.ParseCIDR("0.0.0.0/0")
	_, sub, _ := net.ParseCIDR("10.244.0.0/16")
	tests := []struct {
		name   string
		routes []netlink.Route
		want   bool
	}{
		{"nil dst", []netlink.Route{{Gw: gw}}, true},
		{"0/0 dst", []netlink.Route{{Dst: dflt, Gw: gw}}, true},
		{"other gateway", []netlink.Route{{Gw: net.ParseIP("10.244.0.2")}}, false},
		{"connected only", []netlink.Route{{Dst: sub}}, false},
		{"other table", []netlink.Route{{Gw: gw, Table: 100}}, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		if got := hasDefaultVia(tt.routes, gw); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
