package jitter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
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
	return uniform(r, 0, max(d, 0))
}

type equal struct{}

func (equal) Apply(d time.Duration, r *rand.Rand) time.Duration {
	d = max(d, 0)
	return d - d/2 + uniform(r, 0, d/2)
}

type none struct{}

func (none) Apply(d time.Duration, _ *rand.Rand) time.Duration {
	return max(d, 0)
}

// Proportional returns a [Jitter] that waits a uniformly random delay in
// [d*(1-f), d*(1+f)], both ends included and rounded toward d; the upper end
// saturates at math.MaxInt64. Proportional(0) behaves like [None];
// Proportional(1) gives [0, 2d].
//
// Proportional panics if f is not in [0, 1] (including NaN).
//
// The returned Jitter is immutable and safe for concurrent use.
func Proportional(f float64) Jitter {
	if !(f >= 0 && f <= 1) {
		panic(fmt.Sprintf("jitter: Proportional factor must be in [0, 1], got %v", f))
	}
	return proportional{f: f}
}

type proportional struct {
	f float64
}

func (p proportional) Apply(d time.Duration, r *rand.Rand) time.Duration {
	d = max(d, 0)
	// delta = d*f, truncated, and never more than d. float64(d) may round up
	// to 2^63, which must not be converted back; f <= 1, so delta <= d.
	delta := d
	if x := p.f * float64(d); x < float64(d) {
		delta = min(time.Duration(x), d)
	}
	return uniform(r, d-delta, satAdd(d, delta))
}

// Additive returns a [Jitter] that waits a uniformly random delay in
// [d, d+max], both ends included; the upper end saturates at math.MaxInt64.
// Additive(0) behaves like [None].
//
// Additive panics if max is negative.
//
// The returned Jitter is immutable and safe for concurrent use.
func Additive(max time.Duration) Jitter {
	if max < 0 {
		panic(fmt.Sprintf("jitter: Additive max must not be negative, got %v", max))
	}
	return additive{max: max}
}

type additive struct {
	max time.Duration
}

func (a additive) Apply(d time.Duration, r *rand.Rand) time.Duration {
	d = max(d, 0)
	return uniform(r, d, satAdd(d, a.max))
}

// satAdd returns a+b for a, b >= 0, saturating at math.MaxInt64.
func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// uniform returns a uniformly random duration in [lo, hi], inclusive, drawn
// from r or, if r is nil, from math/rand/v2's top-level functions. It
// requires 0 <= lo <= hi; hi may be math.MaxInt64.
func uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
	// hi-lo <= math.MaxInt64, so the span hi-lo+1 fits in a uint64.
	span := uint64(hi-lo) + 1
	var x uint64
	if r == nil {
		x = rand.Uint64N(span)
	} else {
		x = r.Uint64N(span)
	}
	return lo + time.Duration(x)
}
