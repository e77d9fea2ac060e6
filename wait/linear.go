package wait

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Linear returns a [Strategy] whose delay before retry n is base+step*(n-1),
// capped at max: base, base+step, base+2*step, ... If max <= 0 there is no
// cap and the delay saturates at math.MaxInt64 instead of overflowing. A max
// smaller than base is allowed: every delay is then max. The strategy never
// says "no more", and its delay never decreases as n grows.
//
// Linear panics if base or step is negative. Both may be zero; Linear(d, 0, 0)
// behaves like [Constant](d).
//
// The returned Strategy is immutable and safe for concurrent use.
func Linear(base, step, max time.Duration) Strategy {
	if base < 0 {
		panic(fmt.Sprintf("wait: Linear base must not be negative, got %v", base))
	}
	if step < 0 {
		panic(fmt.Sprintf("wait: Linear step must not be negative, got %v", step))
	}
	return linear{base: base, step: step, max: max}
}

type linear struct {
	base, step, max time.Duration
}

func (l linear) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) {
	lim := limit(l.max)
	if n <= 1 || l.step == 0 || l.base >= lim {
		return min(l.base, lim), true
	}
	// base < lim here, so (lim-base)/step is the largest number of whole
	// steps that fit under the cap; beyond it the delay saturates.
	steps := int64(n - 1)
	if steps > int64((lim-l.base)/l.step) {
		return lim, true
	}
	return l.base + time.Duration(steps)*l.step, true
}
