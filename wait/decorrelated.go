package wait

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/internal/randdur"
)

// Decorrelated returns a [Strategy] implementing AWS's "decorrelated jitter":
// the first delay (n == 1, or prev <= 0) is base; after that the delay is
// min(max, uniform[base, prev*3]), drawn from the job's random source. prev*3
// saturates instead of overflowing. If max <= 0 there is no cap. A max smaller
// than base is allowed: every delay is then max. The strategy never says
// "no more".
//
// Because its delays are already random, the returned Strategy implements
// [SelfJittered] and package job applies no jitter on top of it.
//
// Decorrelated panics if base <= 0 (a zero base would make every delay 0; use
// [Constant](0) for that).
//
// The returned Strategy is immutable and safe for concurrent use. (The
// *rand.Rand passed to Delay is not: each job has its own, or passes nil.)
func Decorrelated(base, max time.Duration) Strategy {
	checkBase("Decorrelated", base)
	return decorrelated{base: base, max: max}
}

type decorrelated struct {
	base, max time.Duration
}

func (dc decorrelated) Delay(n int, prev time.Duration, r *rand.Rand) (time.Duration, bool) {
	lim := limit(dc.max)
	if n <= 1 || prev <= 0 {
		return min(dc.base, lim), true
	}
	hi := prev * 3
	if prev > math.MaxInt64/3 {
		hi = math.MaxInt64
	}
	// prev may be below base/3 (for instance when the cap is below base);
	// the interval is then empty and collapses to base.
	hi = max(hi, dc.base)
	return min(randdur.Uniform(r, dc.base, hi), lim), true
}

// SelfJittered reports true: the delays of Decorrelated are already random.
func (decorrelated) SelfJittered() bool { return true }
