package plugin

import (
	"fmt"
	"io"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// About is what the plugin prints when run by hand, without CNI_COMMAND.
const About = "vxbgp-cni: attaches pods to vxbgpd's overlay networks"

// Main runs the plugin as a CNI runtime executes it and returns the exit
// status.
//
// skel decodes the config before any verb sees it and answers a syntax
// error with code 6 (decoding failure) and a missing cniVersion with code 1
// (it assumes 0.1.0). A runtime cannot tell those from a broken plugin, so
// the config is read and checked here first (Precheck): invalid config is
// code 7 and names the key. skel reads os.Stdin itself, so the bytes read
// are handed to it again through a pipe.
func Main() int {
	switch os.Getenv("CNI_COMMAND") {
	case "ADD", "DEL", "CHECK", "GC", "STATUS":
		stdin, err := io.ReadAll(os.Stdin)
		if err != nil {
			return printError(types.NewError(types.ErrIOFailure, fmt.Sprintf("read network config from stdin: %v", err), ""))
		}
		if err := Precheck(stdin); err != nil {
			return printError(toCNIError(err))
		}
		r, err := replay(stdin)
		if err != nil {
			return printError(types.NewError(types.ErrIOFailure, err.Error(), ""))
		}
		os.Stdin = r
	}
	if e := skel.PluginMainFuncsWithError(Funcs(), Versions(), About); e != nil {
		return printError(e)
	}
	return 0
}

// replay returns a file that reads b.
func replay(b []byte) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe for the network config: %w", err)
	}
	// A goroutine: a config larger than the pipe buffer would block a
	// plain write. It ends when skel has read everything.
	go func() {
		_, _ = w.Write(b)
		w.Close()
	}()
	return r, nil
}

// printError writes the CNI error result to stdout, as the spec wants.
func printError(e error) int {
	te, ok := e.(*types.Error)
	if !ok {
		te = types.NewError(types.ErrInternal, e.Error(), "")
	}
	if err := te.Print(); err != nil {
		fmt.Fprintf(os.Stderr, "vxbgp-cni: print error result: %v (error was: %v)\n", err, te)
	}
	return 1
}
