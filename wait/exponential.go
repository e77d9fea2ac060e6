package wait

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Exponential returns a [Strategy] whose delay before retry n is
// base*factor^(n-1), capped at max: base, base*factor, base*factor², ...
// If max <= 0 there is no cap and the delay saturates at math.MaxInt64
// (about 292 years) instead of overflowing. A max smaller than base is
// allowed: every delay is then max. The strategy never says "no more".
//
// The delay is computed in O(1) with float64 arithmetic and rounded to the
// nearest nanosecond. It is exact when base, factor^(n-1) and their product
// are exactly representable as float64 values, for instance with factor 2
// and delays below 2^53ns (about 104 days). It never decreases as n grows.
//
// Exponential panics if base <= 0 (a zero base would make every delay 0; use
// [Constant](0) for that), or if factor is below 1, NaN or infinite.
//
// The returned Strategy is immutable and safe for concurrent use.
func Exponential(base time.Duration, factor float64, max time.Duration) Strategy {
	checkBase("Exponential", base)
	if !(factor >= 1) || math.IsInf(factor, 1) {
		panic(fmt.Sprintf("wait: Exponential factor must be >= 1 and finite, got %v", factor))
	}
	return exponential{base: base, factor: factor, max: max}
}

type exponential struct {
	base   time.Duration
	factor float64
	max    time.Duration
}

func (e exponential) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) {
	lim := limit(e.max)
	if n <= 1 || e.base >= lim || e.factor == 1 {
		return min(e.base, lim), true
	}
	// Pow saturates to +Inf rather than wrapping, for any n.
	f := float64(e.base) * math.Pow(e.factor, float64(n-1))
	// float64(lim) may round up (float64(math.MaxInt64) is 2^63), so only
	// values strictly below it are converted; the rest saturate.
	if f >= float64(lim) {
		return lim, true
	}
	d := time.Duration(math.Round(f))
	// float64(e.base) may round below e.base when base > 2^53; keep the
	// sequence non-decreasing from its first term.
	return min(max(d, e.base), lim), true
}

// checkBase panics unless base > 0, for the strategies whose delays scale
// with base.
func checkBase(fn string, base time.Duration) {
	if base < 0 {
		panic(fmt.Sprintf("wait: %s base must not be negative, got %v", fn, base))
	}
	if base == 0 {
		panic(fmt.Sprintf("wait: %s base must be positive, got 0: it would always return 0 (use Constant(0) for no delay)", fn))
	}
}
