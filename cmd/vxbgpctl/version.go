package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/vxbgp/vxbgp/internal/version"
)

// versionInfo is `vxbgpctl version -o json`.
type versionInfo struct {
	ClientVersion string `json:"clientVersion"`
	GoVersion     string `json:"goVersion"`
	Platform      string `json:"platform"`               // GOOS/GOARCH
	AgentVersion  string `json:"agentVersion,omitempty"` // omitted when the agent did not answer
}

// versionCommand prints our version and, when it answers, the agent's.
// As kubectl version does, it prints what it knows on stdout and says on
// stderr why the agent's version is missing; unlike kubectl it then exits
// 0, since the version asked for was printed: an install script can call
// it on a host whose agent is not started yet.
func versionCommand() command {
	return command{"version", " [--client]", "vxbgpctl's version and, when it answers, the agent's",
		func(fs *flag.FlagSet) action {
			clientOnly := fs.Bool("client", false, "vxbgpctl's version only; do not ask the agent")
			return func(ctx context.Context, e env) error {
				v := versionInfo{ClientVersion: version.String(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
				var agentErr error
				if !*clientOnly {
					st, err := e.client.Status(ctx)
					v.AgentVersion, agentErr = st.Version, err
				}
				err := show(e.stdout, e.format, v, func(w io.Writer, wide bool) error {
					rows := [][]string{{"Client Version:", v.ClientVersion}}
					if wide {
						rows = append(rows, []string{"Go Version:", v.GoVersion}, []string{"Platform:", v.Platform})
					}
					if v.AgentVersion != "" {
						rows = append(rows, []string{"Agent Version:", v.AgentVersion})
					}
					return writeTable(w, nil, rows)
				})
				if agentErr != nil {
					fmt.Fprintf(e.stderr, "vxbgpctl: agent version unknown: %s\n", explain(agentErr, e.socket))
				}
				return err
			}
		}}
}
