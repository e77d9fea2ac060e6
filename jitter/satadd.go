package jitter

import (
	"math"
	"time"
)

// satAdd returns a+b for a, b >= 0, saturating at math.MaxInt64.
func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
