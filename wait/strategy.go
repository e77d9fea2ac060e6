package wait

import (
	"math"
	"math/rand/v2"
	"time"
)

// Strategy is a delay policy: it computes the base delay before each retry.
//
// Implementations must be immutable, or at least safe for concurrent use, since
// one Strategy is shared by every job that uses it. Implementations must not
// return a negative delay.
type Strategy interface {
	// Delay returns the base delay before retry n (n >= 1) given prev, the
	// base delay it returned for retry n-1 (0 for n == 1), and r, the job's
	// random source (nil means use math/rand/v2's top-level functions).
	// ok == false means no more retries; d is then meaningless.
	//
	// The strategies of this package treat n < 1 as 1 and prev < 0 as 0.
	Delay(n int, prev time.Duration, r *rand.Rand) (d time.Duration, ok bool)
}

// Func adapts an ordinary function to a [Strategy]. It ignores the random
// source. A user-defined strategy is then one line:
//
//	wait.Func(func(n int, _ time.Duration) (time.Duration, bool) { return time.Duration(n) * time.Second, n <= 5 })
//
// A Func is safe for concurrent use if the function is. The zero value (nil)
// is not usable: its Delay panics.
type Func func(n int, prev time.Duration) (time.Duration, bool)

// Delay calls f(n, prev) after treating n < 1 as 1 and prev < 0 as 0, so f
// sees only n >= 1 and prev >= 0. A negative delay returned by f is reported
// as 0. It ignores r.
func (f Func) Delay(n int, prev time.Duration, _ *rand.Rand) (time.Duration, bool) {
	d, ok := f(max(n, 1), max(prev, 0))
	return max(d, 0), ok
}

// SelfJittered is implemented by strategies that randomise their delays
// themselves, such as [Decorrelated]. Package job applies no jitter on top of
// a strategy whose SelfJittered method returns true.
type SelfJittered interface {
	Strategy
	// SelfJittered reports whether the delays are already randomised.
	SelfJittered() bool
}

// limit returns the cap a strategy's delays saturate at: c, or
// math.MaxInt64 when c <= 0 (no cap).
func limit(c time.Duration) time.Duration {
	if c <= 0 {
		return math.MaxInt64
	}
	return c
}
