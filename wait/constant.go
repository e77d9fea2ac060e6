package wait

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Constant returns a [Strategy] whose delay is d before every retry. d == 0
// is allowed and means retry immediately. The strategy never says "no more".
//
// Constant panics if d is negative.
//
// The returned Strategy is immutable and safe for concurrent use.
func Constant(d time.Duration) Strategy {
	if d < 0 {
		panic(fmt.Sprintf("wait: Constant d must not be negative, got %v", d))
	}
	return constant{d: d}
}

type constant struct {
	d time.Duration
}

func (c constant) Delay(int, time.Duration, *rand.Rand) (time.Duration, bool) {
	return c.d, true
}
