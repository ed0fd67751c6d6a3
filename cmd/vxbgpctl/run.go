package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/version"
)

// callTimeout bounds one API call: a wedged agent must not hang scripts.
const callTimeout = 10 * time.Second

// Exit codes. Unreachable has its own code so that a script or a probe can
// tell "the agent is not there" (start it, wait for it) from "the agent is
// there and says no" (read what it says), as curl's 7 differs from its 22.
const (
	exitOK          = 0
	exitError       = 1 // the agent answered with an error; a node command failed
	exitUsage       = 2 // bad command, flag or flag value (named on stderr)
	exitUnreachable = 3 // no answer: no socket, nobody listening, no permission, or none within callTimeout
)

const usage = `usage: vxbgpctl [--socket PATH] [-o table|wide|json|yaml] COMMAND [FLAGS]

Commands:
  status      mode, ASN, router ID, VTEP, route counts per family, the last reconcile error
  peers       BGP peers: address, ASN, state, uptime, routes received/accepted
              (wide: per family with advertised, the source, the last error)
  routes      EVPN and unicast routes: type, RD, MAC, IP, VNI, next hop, source
              [--vni N] [--type 2|3|unicast] [--peer ADDR|local]
  endpoints   local pods: container, interface, MAC, IP, network [--network NAME]
  members     discovered hosts and their state
  fdb         what the agent programmed: MAC, flood and neighbour entries [--vni N]
  version     vxbgpctl's version and, when it answers, the agent's [--client]

Node set-up (no agent needed):
  install-cni    copy vxbgp-cni into the CNI bin dir atomically (--bin-dir, default /opt/cni/bin)
  uninstall-cni  remove the conflist, then vxbgp-cni, from the node

vxbgpctl COMMAND -h shows a command's flags; flags may also follow the
command. -o json prints the local API's types (package localapi) as
indented JSON, -o yaml the same values as YAML; lists are [] when empty.
-o wide is the table with more columns. Filters select on the client.

Exit codes: 0 ok; 1 the agent answered with an error; 2 bad usage (a bad
flag value is named); 3 the agent did not answer (not running, no
permission, or no answer within 10s).

Flags:
`

// globals are the flags valid before and after the command.
type globals struct {
	socket string
	format format
}

// bind registers the globals on fs with their current values as defaults,
// so that binding them again after the command keeps what came before it.
func (g *globals) bind(fs *flag.FlagSet) {
	fs.StringVar(&g.socket, "socket", g.socket, "the agent's API socket")
	fs.Var(&g.format, "o", "output `format`: table, wide, json or yaml")
}

// run is vxbgpctl without the process around it; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{socket: config.DefaultSocket, format: formatTable}
	fs := flag.NewFlagSet("vxbgpctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	g.bind(fs)
	showVersion := fs.Bool("version", false, "print vxbgpctl's version and exit (the version command asks the agent too)")
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	if *showVersion {
		fmt.Fprintf(stdout, "vxbgpctl %s\n", version.String())
		return exitOK
	}
	name := fs.Arg(0)
	if name == "" {
		fmt.Fprintln(stderr, "vxbgpctl: no command")
		fs.Usage()
		return exitUsage
	}
	if node, ok := nodeCommands[name]; ok {
		return node(fs.Args()[1:], stdout, stderr)
	}
	cmds := commands()
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "vxbgpctl: unknown command %q\n", name)
		fs.Usage()
		return exitUsage
	}

	// The command's own flag set: the globals again, so that they may
	// follow the command (`vxbgpctl peers -o json`), and its filters.
	cmd := cmds[i]
	cfs := flag.NewFlagSet("vxbgpctl "+name, flag.ContinueOnError)
	cfs.SetOutput(stderr)
	g.bind(cfs)
	act := cmd.bind(cfs)
	cfs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vxbgpctl %s%s\n  %s\n\nFlags:\n", name, cmd.synopsis, cmd.summary)
		cfs.PrintDefaults()
	}
	if err := cfs.Parse(fs.Args()[1:]); err != nil {
		return usageExit(err)
	}
	if cfs.NArg() > 0 {
		fmt.Fprintf(stderr, "vxbgpctl: unexpected argument %q\n", cfs.Arg(0))
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	e := env{client: localapi.NewClient(g.socket), socket: g.socket, format: g.format, stdout: stdout, stderr: stderr}
	if err := act(ctx, e); err != nil {
		fmt.Fprintf(stderr, "vxbgpctl: %s\n", explain(err, g.socket))
		return exitCode(err)
	}
	return exitOK
}

// env is what a command's action runs with.
type env struct {
	client         *localapi.Client
	socket         string
	format         format
	stdout, stderr io.Writer
}

func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func exitCode(err error) int {
	var ue *localapi.UnreachableError
	if errors.As(err, &ue) {
		return exitUnreachable
	}
	return exitError
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
	var ue *localapi.UnreachableError
	if errors.As(err, &ue) {
		return fmt.Sprintf("cannot reach vxbgpd at %s: %v", socket, ue.Err)
	}
	return err.Error()
}

// oneOf lists choices for an error message: "a, b or c".
func oneOf(choices ...string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}
