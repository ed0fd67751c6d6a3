package plugin

import (
	"errors"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/internal/stateformat"
)

// codedError attaches a CNI error code to an error. It stays an ordinary
// wrapped error inside the package, so callers can add context, and becomes
// a *types.Error only at the skel boundary (toCNIError): skel would unwrap
// a *types.Error found inside a wrapped error and drop the context around it.
type codedError struct {
	code uint
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code uint, err error) error { return &codedError{code: code, err: err} }

// Code returns the CNI error code for err: the one attached with withCode,
// else 6 (failed to decode content) for a state file in a newer format
// than this plugin reads (a downgrade: neither a retry nor a config change
// helps), else 999 (internal).
func Code(err error) uint {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	var ne *stateformat.NewerError
	if errors.As(err, &ne) {
		return types.ErrDecodingFailure
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return types.ErrInternal
}

// toCNIError turns err into the *types.Error skel prints, with the whole
// message.
func toCNIError(err error) error {
	if err == nil {
		return nil
	}
	return types.NewError(Code(err), err.Error(), "")
}
