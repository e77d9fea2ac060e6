package wait

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Schedule returns a [Strategy] that follows a fixed list of delays: ds[n-1]
// before retry n for n <= len(ds), then "no more" (ok == false). With no
// delays at all the job is never retried.
//
// Schedule copies ds, so the caller may reuse the slice.
//
// Schedule panics if any entry is negative.
//
// The returned Strategy is immutable and safe for concurrent use.
func Schedule(ds ...time.Duration) Strategy {
	for i, d := range ds {
		if d < 0 {
			panic(fmt.Sprintf("wait: Schedule entry %d must not be negative, got %v", i, d))
		}
	}
	return schedule{ds: slices.Clone(ds)}
}

type schedule struct {
	ds []time.Duration // never modified after construction
}

func (s schedule) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) {
	n = max(n, 1)
	if n > len(s.ds) {
		return 0, false
	}
	return s.ds[n-1], true
}
