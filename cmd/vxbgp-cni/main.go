// Command vxbgp-cni is the CNI plugin (type "vxbgp-cni") that attaches pods
// to the networks vxbgpd runs; see package cni/plugin.
package main

import (
	"os"

	"github.com/vxbgp/vxbgp/cni/plugin"
)

func main() {
	os.Exit(plugin.Main())
}
