package jitter

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/internal/randdur"
)

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
	return randdur.Uniform(r, d, satAdd(d, a.max))
}
