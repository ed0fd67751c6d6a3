package lab

import "os/exec"

// Tool is an external program the lab runs, and the Debian package that
// has it.
type Tool struct {
	Name, Package string
}

// CoreTools are the programs every lab runs: `ip` builds the namespaces,
// links and addresses and runs the agents and the CNI plugin inside them
// (`ip netns exec`), `bridge` reads FDBs. Everything else a plain lab needs
// (pings, sysctls, netlink watches) the harness does itself; FRR hosts,
// captures and benchmarks need more, and their tests say so.
func CoreTools() []Tool {
	return []Tool{{Name: "ip", Package: "iproute2"}, {Name: "bridge", Package: "iproute2"}}
}

// MissingTools returns the tools that are not on $PATH.
func MissingTools(tools []Tool) []Tool {
	var out []Tool
	for _, t := range tools {
		if _, err := exec.LookPath(t.Name); err != nil {
			out = append(out, t)
		}
	}
	return out
}
