// Package stateformat is the format version every state file of vxbgp
// carries: networks.json and the IPAM records (ipam), members.json
// (control/members).
//
// Each file has a top-level "version", counted per kind of file and
// raised only by a change an older reader would misread: keys added with
// a harmless zero value do not raise it, since encoding/json ignores keys
// it does not know. A file without a version predates the field and is
// version 1. A reader refuses a version above its own (NewerError): it
// cannot tell what it would misread, and a file written by a newer release
// means a downgrade past a format change, which the operator must undo
// (upgrade again) or finish (restore what the older release wrote).
package stateformat

import "fmt"

// NewerError is a state file in a newer format than this release reads.
type NewerError struct {
	File      string // the file's path
	Version   int    // the version it holds
	Supported int    // the newest this release reads
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("%s: format version %d is newer than this vxbgp release supports (%d); upgrade vxbgpd and vxbgp-cni, or restore the file",
		e.File, e.Version, e.Supported)
}

// Check checks the version read from file: 0 (no "version" key) is
// version 1; above supported is a *NewerError; negative is invalid.
func Check(file string, version, supported int) error {
	switch {
	case version < 0:
		return fmt.Errorf("%s: format version %d is invalid", file, version)
	case version > supported:
		return &NewerError{File: file, Version: version, Supported: supported}
	}
	return nil
}
