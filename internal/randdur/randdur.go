// Package randdur draws random durations, for the strategies of package
// wait and the jitters of package jitter.
package randdur

import (
	"math/rand/v2"
	"time"
)

// Uniform returns a uniformly random duration in [lo, hi], inclusive, drawn
// from r or, if r is nil, from math/rand/v2's top-level functions. It
// requires 0 <= lo <= hi; hi may be math.MaxInt64.
func Uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
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
