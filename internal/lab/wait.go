package lab

import (
	"context"
	"fmt"
	"time"
)

// Poll intervals: fast enough to measure convergence in tens of
// milliseconds, slow enough not to starve the daemons on a 2-core machine.
const (
	pollFast = 10 * time.Millisecond
	pollSlow = 100 * time.Millisecond
)

// Eventually calls cond every interval until it returns true, an error
// wrapped in Permanent, or ctx ends; on timeout the error names what was
// awaited and the last reason cond gave.
func Eventually(ctx context.Context, what string, interval time.Duration, cond func(ctx context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if err != nil {
			if p, isPerm := err.(permanent); isPerm {
				return fmt.Errorf("wait for %s: %w", what, p.err)
			}
			last = err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

// Permanent marks an error that ends an Eventually loop at once (e.g. the
// daemon being awaited has exited).
func Permanent(err error) error { return permanent{err} }
