package wait

import (
	"math/rand/v2"
	"time"
)

// Fibonacci returns a [Strategy] whose delay before retry n is base*fib(n),
// capped at max, where fib(1) = 1, fib(2) = 1, fib(3) = 2, fib(4) = 3, ...
// (the sequence of Python's backoff.fibo): base, base, 2*base, 3*base,
// 5*base, ... If max <= 0 there is no cap and the delay saturates at
// math.MaxInt64 instead of overflowing. A max smaller than base is allowed:
// every delay is then max. The strategy never says "no more", and its delay
// never decreases as n grows.
//
// Delay iterates at most about 90 times, whatever n: it stops as soon as the
// delay reaches the cap.
//
// Fibonacci panics if base <= 0 (a zero base would make every delay 0; use
// [Constant](0) for that).
//
// The returned Strategy is immutable and safe for concurrent use.
func Fibonacci(base, max time.Duration) Strategy {
	checkBase("Fibonacci", base)
	return fibonacci{base: base, max: max}
}

type fibonacci struct {
	base, max time.Duration
}

func (f fibonacci) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) {
	lim := limit(f.max)
	if f.base >= lim {
		return lim, true
	}
	// Invariant: cur = fib(i) and next = fib(i+1), with cur <= most, so
	// cur*base cannot overflow. Both are at most math.MaxInt64, so their
	// sum fits in a uint64. Fibonacci numbers pass math.MaxInt64 at fib(93),
	// so the loop returns within that many steps whatever n is.
	most := uint64(lim / f.base)
	cur, next := uint64(1), uint64(1)
	for i := 1; i < n; i++ {
		if next > most {
			return lim, true
		}
		cur, next = next, cur+next
	}
	return time.Duration(cur) * f.base, true
}
