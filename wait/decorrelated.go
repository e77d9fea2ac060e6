package wait

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/internal/randdur"
)

// Decorrelated returns a [Strategy] implementing AWS's "decorrelated jitter":
// sleep = min(max, uniform[base, sleep*3]), drawn from the job's random
// source, with sleep starting at base. The first delay (n == 1, or
// prev <= 0) is therefore already uniform in [base, 3*base] (capped at max),
// so clients that failed together do not retry together; after that prev
// takes the place of sleep. sleep*3 saturates instead of overflowing. If
// max <= 0 there is no cap. A max smaller than base is allowed: every delay
// is then max. The strategy never says "no more".
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
	sleep := prev
	if n <= 1 || prev <= 0 {
		sleep = dc.base // AWS's sleep starts at base: the first delay is random too
	}
	hi := sleep * 3
	if sleep > math.MaxInt64/3 {
		hi = math.MaxInt64
	}
	// prev may be below base/3 (for instance when the cap is below base);
	// the interval is then empty and collapses to base.
	hi = max(hi, dc.base)
	return min(randdur.Uniform(r, dc.base, hi), limit(dc.max)), true
}

// SelfJittered reports true: the delays of Decorrelated are already random.
func (decorrelated) SelfJittered() bool { return true }
