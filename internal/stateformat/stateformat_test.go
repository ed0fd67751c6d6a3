package stateformat

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		version int
		want    string // "" = accepted
	}{
		{0, ""}, // no "version" key: version 1
		{1, ""},
		{2, "/var/lib/vxbgp/networks.json: format version 2 is newer than this vxbgp release supports (1); upgrade vxbgpd and vxbgp-cni, or restore the file"},
		{-1, "/var/lib/vxbgp/networks.json: format version -1 is invalid"},
	} {
		err := Check("/var/lib/vxbgp/networks.json", tc.version, 1)
		if got := errString(err); got != tc.want {
			t.Errorf("version %d: %q, want %q", tc.version, got, tc.want)
		}
		var ne *NewerError
		if errors.As(err, &ne) != (tc.version > 1) {
			t.Errorf("version %d: errors.As(*NewerError) = %t", tc.version, !(tc.version > 1))
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
