// Package version is the release a binary was built from, for the binaries
// that do not link the agent (vxbgpctl). `make build` sets it:
//
//	-ldflags "-X github.com/vxbgp/vxbgp/internal/version.Version=v0.1.0+abc1234"
package version

import "runtime/debug"

// Version is set by the build; "dev" otherwise.
var Version = "dev"

// String is Version; for a plain `go build` (Version "dev") it adds the
// commit Go stamped into the binary, so a bug report still names the tree:
// "dev+abc1234def0" or "dev+abc1234def0-dirty".
func String() string {
	if Version != "dev" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return Version
	}
	return Version + "+" + rev[:min(12, len(rev))] + dirty
}
