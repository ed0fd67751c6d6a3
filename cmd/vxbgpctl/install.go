package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vxbgp/vxbgp/cni/install"
)

// nodeCommands set up the node and need no agent: the DaemonSet's init
// container runs install-cni from an image without a shell.
var nodeCommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"install-cni":   installCNI,
	"uninstall-cni": uninstallCNI,
}

func installCNI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vxbgpctl install-cni", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin-dir", "/opt/cni/bin", "the node's CNI plugin directory")
	from := fs.String("from", "", "the plugin binary to install (default: "+install.PluginName+" beside vxbgpctl)")
	if code, ok := parseNode(fs, args); !ok {
		return code
	}
	src := *from
	if src == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "vxbgpctl install-cni: find %s: %v\n", install.PluginName, err)
			return 1
		}
		src = filepath.Join(filepath.Dir(exe), install.PluginName)
	}
	dst, err := install.Plugin(src, *binDir)
	if err != nil {
		fmt.Fprintf(stderr, "vxbgpctl install-cni: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "installed %s\n", dst)
	return 0
}

func uninstallCNI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vxbgpctl uninstall-cni", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin-dir", "/opt/cni/bin", "the node's CNI plugin directory")
	conflist := fs.String("conflist", "/etc/cni/net.d/10-vxbgp.conflist", `the conflist to remove first ("": keep it)`)
	if code, ok := parseNode(fs, args); !ok {
		return code
	}
	removed, err := install.Uninstall(*binDir, *conflist)
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vxbgpctl uninstall-cni: %v\n", err)
		return 1
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to remove")
	}
	return 0
}

// parseNode parses a node command's flags; ok false means exit with code.
func parseNode(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return usageExit(err), false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}
