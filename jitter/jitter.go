package jitter

import (
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/internal/randdur"
)

// Jitter randomises a base delay. Implementations must be safe for concurrent
// use; the ones in this package are immutable.
type Jitter interface {
	// Apply returns the delay to wait for base delay d, drawing randomness
	// from r (nil: math/rand/v2's top-level functions). The jitters of this
	// package treat d < 0 as 0 and never return a negative delay.
	Apply(d time.Duration, r *rand.Rand) time.Duration
}

// Func adapts an ordinary function to a [Jitter]. Its Apply treats d < 0 as 0
// before calling the function and reports a negative result as 0.
//
// A Func is safe for concurrent use if the function is. The zero value (nil)
// is not usable: its Apply panics.
type Func func(d time.Duration, r *rand.Rand) time.Duration

// Apply returns max(f(max(d, 0), r), 0).
func (f Func) Apply(d time.Duration, r *rand.Rand) time.Duration {
	return max(f(max(d, 0), r), 0)
}

// The predefined jitters. They are variables only because Go has no
// interface constants: never assign to them.
var (
	// Full waits a uniformly random delay in [0, d], both ends included. It
	// is the default of package job.
	Full Jitter = full{}

	// Equal waits half of d plus a uniformly random delay of up to the other
	// half: d - d/2 + uniform[0, d/2], that is uniform in [d/2, d] with the
	// lower end rounded up for an odd d, so the upper end is exactly d.
	Equal Jitter = equal{}

	// None waits d itself: no randomness.
	None Jitter = none{}
)

type full struct{}

func (full) Apply(d time.Duration, r *rand.Rand) time.Duration {
	return randdur.Uniform(r, 0, max(d, 0))
}

type equal struct{}

func (equal) Apply(d time.Duration, r *rand.Rand) time.Duration {
	d = max(d, 0)
	return d - d/2 + randdur.Uniform(r, 0, d/2)
}

type none struct{}

func (none) Apply(d time.Duration, _ *rand.Rand) time.Duration {
	return max(d, 0)
}
