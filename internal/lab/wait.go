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

// check is one thing waitAll waits for: missing lists what is not there
// yet.
type check struct {
	what    string
	missing func(ctx context.Context) ([]string, error)
}

// waitAll waits for each check in turn until it lists nothing missing, and
// returns how long that took in all; it logs "<done> after <duration>".
func (l *Lab) waitAll(ctx context.Context, done string, checks []check) (time.Duration, error) {
	start := time.Now()
	for _, c := range checks {
		err := Eventually(ctx, c.what, pollFast*2, func(ctx context.Context) (bool, error) {
			missing, err := c.missing(ctx)
			if err != nil {
				return false, err
			}
			if len(missing) > 0 {
				return false, fmt.Errorf("missing %v", missing)
			}
			return true, nil
		})
		if err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	l.logf("lab %s: %s after %v", l.ID, done, d.Round(time.Millisecond))
	return d, nil
}
