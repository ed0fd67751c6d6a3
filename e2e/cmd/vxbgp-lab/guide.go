package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// preflight checks, before anything is created, what the demo needs from
// the host: root, iproute2, and the binaries make build puts in bin. It
// names each missing piece and how to get it, and reports whether all are
// there.
func preflight(w io.Writer, bin string) bool {
	ok := true
	if os.Geteuid() != 0 {
		fmt.Fprintln(w, "demo: needs root: it creates network namespaces (run as root, e.g. sudo -E make demo)")
		ok = false
	}
	for _, t := range lab.MissingTools(lab.CoreTools()) {
		fmt.Fprintf(w, "demo: needs `%s`, which is not on $PATH: install the %s package (Debian/Ubuntu: apt-get install %s)\n",
			t.Name, t.Package, t.Package)
		ok = false
	}
	for _, b := range []string{lab.BinAgent, lab.BinCtl, lab.BinCNI} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			fmt.Fprintf(w, "demo: needs %s: %v (make demo builds it; or run make build)\n", filepath.Join(bin, b), err)
			ok = false
		}
	}
	return ok
}

// printNext says where to go from here: with the lab kept, the exact
// commands against its agents' sockets; without, how to keep it.
func printNext(w io.Writer, l *lab.Lab, bin string, kept bool) {
	ctl := filepath.Join(bin, lab.BinCtl)
	fmt.Fprintln(w, "\nNext:")
	if !kept {
		fmt.Fprintln(w, "  KEEP=1 make demo       the same, but the lab stays up; it then prints the commands for its agents:")
		fmt.Fprintf(w, "                         %s --socket <work dir>/h1/api.sock status|peers|routes\n", ctl)
		fmt.Fprintln(w, "  make demo MODE=routed  the same lab in routed mode (no VXLAN; block routes over the underlay)")
		fmt.Fprintln(w, "  make demo-clean        remove every lab left running")
		return
	}
	h1 := l.Host(1)
	fmt.Fprintf(w, "  lab %s is still up; work dir %s (configs, logs, sockets). Ask h1's agent:\n", l.ID, l.Dir)
	for _, c := range []string{"status", "peers", "routes", "members"} {
		fmt.Fprintf(w, "    %s --socket %s %s\n", ctl, h1.Socket, c)
	}
	var others []string
	for _, h := range l.Hosts[1:] {
		others = append(others, fmt.Sprintf("%s %s", h.Name, h.Socket))
	}
	fmt.Fprintf(w, "  the other hosts' sockets: %s\n", strings.Join(others, ", "))
	fmt.Fprintf(w, "  h1's log: %s\n", h1.LogPath)
	if pods := l.Pods(); len(pods) > 0 {
		fmt.Fprintf(w, "  inside a pod: ip netns exec %s ip addr   (namespaces: %s)\n", pods[0].NS, strings.Join(l.Namespaces(), " "))
	}
	fmt.Fprintln(w, "  remove it: make demo-clean   (or: vxbgp-lab clean)")
}
