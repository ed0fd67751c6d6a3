package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
)

// callTimeout bounds one API call: a wedged agent must not hang scripts.
const callTimeout = 10 * time.Second

const usage = `usage: vxbgpctl [--socket PATH] [-o table|json] COMMAND

Commands:
  status      mode, ASN, router ID, VTEP and counts
  peers       BGP peers: address, ASN, state, uptime, routes received/accepted
  routes      EVPN and unicast routes: type, RD, MAC, IP, VNI, next hop, source
  endpoints   local pods: container, interface, MAC, IP, network
  members     discovered hosts and their state
  fdb         what the agent programmed: MAC, flood and neighbour entries

Node set-up (no agent needed; vxbgpctl COMMAND -h for flags):
  install-cni    copy vxbgp-cni into the CNI bin dir atomically (--bin-dir, default /opt/cni/bin)
  uninstall-cni  remove the conflist, then vxbgp-cni, from the node

Flags may also follow the command. -o json prints the local API's types
(package localapi) as indented JSON; lists are [] when empty.

Flags:
`

// run is vxbgpctl without the process around it; it returns the exit code:
// 0, 1 when the agent cannot answer, 2 for bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vxbgpctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	socket := fs.String("socket", config.DefaultSocket, "the agent's API socket")
	output := fs.String("o", "table", "output format: table or json")
	// Parse twice so flags work before and after the command, as in
	// `vxbgpctl peers -o json`.
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	name := fs.Arg(0)
	if name == "" {
		fmt.Fprintln(stderr, "vxbgpctl: no command")
		fs.Usage()
		return 2
	}
	if node, ok := nodeCommands[name]; ok {
		return node(fs.Args()[1:], stdout, stderr)
	}
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vxbgpctl: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "vxbgpctl: -o must be table or json, got %q\n", *output)
		return 2
	}
	cmds := commands()
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "vxbgpctl: unknown command %q\n", name)
		fs.Usage()
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := cmds[i].run(ctx, localapi.NewClient(*socket), stdout, *output == "json"); err != nil {
		fmt.Fprintf(stderr, "vxbgpctl: %s\n", explain(err, *socket))
		return 1
	}
	return 0
}

func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// explain turns the usual reasons the agent cannot answer into advice.
func explain(err error, socket string) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach vxbgpd at %s: is it running?", socket)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("cannot reach vxbgpd at %s: permission denied (the socket is root's only)", socket)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("vxbgpd at %s did not answer within %s", socket, callTimeout)
	}
	var se *localapi.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("vxbgpd answered %d: %s", se.Code, se.Message)
	}
	return err.Error()
}
