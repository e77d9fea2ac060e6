package jitter

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/internal/randdur"
)

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
	return randdur.Uniform(r, d-delta, satAdd(d, delta))
}
