// Command vxbgp-cni is the CNI plugin (type "vxbgp-cni") that attaches pods
// to the networks vxbgpd runs; see package cni/plugin.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vxbgp/vxbgp/cni/plugin"
)

func main() {
	skel.PluginMainFuncs(plugin.Funcs(), plugin.Versions(), "vxbgp-cni: attaches pods to vxbgpd's overlay networks")
}
