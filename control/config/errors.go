package config

// FieldError is one problem with the config, named by its key path in the
// YAML file, e.g. `networks[0].vni: must be 1..16777215`.
type FieldError struct {
	Path string // e.g. networks[0].vni
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Problems splits an error from Parse, Load, Validate or Resolve into its
// single problems (the errors.Join'ed parts), for one-per-line output.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	// Only the top level is split: a wrapped join keeps its prefix intact.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}
