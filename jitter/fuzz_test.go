package jitter_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rebound-go/rebound/jitter"
)

// addSeeds adds the edge delays every jitter fuzz target starts from.
func addSeeds(f *testing.F) {
	for _, d := range []int64{0, 1, 2, 3, int64(time.Second), math.MaxInt64, math.MaxInt64 - 1, 1 << 62, -1, math.MinInt64} {
		f.Add(d, uint64(d), uint64(1))
	}
}

// checkApply applies j to d with a source seeded from s1, s2 and with nil,
// and fails unless the result is in [lo, hi].
func checkApply(t *testing.T, j jitter.Jitter, d time.Duration, s1, s2 uint64, lo, hi time.Duration) {
	t.Helper()
	for _, r := range []*rand.Rand{rand.New(rand.NewPCG(s1, s2)), nil} {
		if got := j.Apply(d, r); got < lo || got > hi {
			t.Fatalf("Apply(%v) = %v, want in [%v, %v]", d, got, lo, hi)
		}
	}
}

// satAdd returns a+b for a, b >= 0, saturating at math.MaxInt64.
func satAdd(a, b time.Duration) time.Duration {
	if a > top-b {
		return top
	}
	return a + b
}

func FuzzFull(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, d int64, s1, s2 uint64) {
		dd := max(time.Duration(d), 0)
		checkApply(t, jitter.Full, time.Duration(d), s1, s2, 0, dd)
	})
}

func FuzzEqual(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, d int64, s1, s2 uint64) {
		dd := max(time.Duration(d), 0)
		// [d/2, d], the lower end rounded up.
		checkApply(t, jitter.Equal, time.Duration(d), s1, s2, dd-dd/2, dd)
	})
}

func FuzzNone(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, d int64, s1, s2 uint64) {
		dd := max(time.Duration(d), 0)
		checkApply(t, jitter.None, time.Duration(d), s1, s2, dd, dd)
	})
}

func FuzzProportional(f *testing.F) {
	for _, d := range []int64{0, 1, 5, int64(time.Second), math.MaxInt64, 1 << 62, -1} {
		for _, fr := range []float64{0, 0.5, 1, 1e-300, 0.9999999999999999, -0.1, 1.5, math.NaN()} {
			f.Add(d, fr, uint64(d), uint64(2))
		}
	}
	f.Fuzz(func(t *testing.T, d int64, fr float64, s1, s2 uint64) {
		var j jitter.Jitter
		msg := panicMessage(func() { j = jitter.Proportional(fr) })
		if wantPanic := !(fr >= 0 && fr <= 1); (msg != "") != wantPanic {
			t.Fatalf("Proportional(%v) panicked = %t (%q), want %t", fr, msg != "", msg, wantPanic)
		}
		if msg != "" {
			return
		}
		dd := max(time.Duration(d), 0)
		// [d(1-f), d(1+f)], computed in float64 with a margin for rounding;
		// the exact bounds [0, min(2d, MaxInt64)] always hold.
		x := float64(dd)
		lo, hi := time.Duration(0), satAdd(dd, dd)
		if l := x*(1-fr) - x*0x1p-50 - 1; l > 0 {
			lo = time.Duration(l)
		}
		if h := x*(1+fr) + x*0x1p-50 + 1; h < float64(hi) {
			hi = time.Duration(h)
		}
		if fr == 0 {
			lo, hi = dd, dd
		}
		checkApply(t, j, time.Duration(d), s1, s2, lo, hi)
	})
}

func FuzzAdditive(f *testing.F) {
	for _, d := range []int64{0, 1, int64(time.Second), math.MaxInt64, math.MaxInt64 - 1, -1, math.MinInt64} {
		for _, m := range []int64{0, 1, int64(time.Second), math.MaxInt64, -1} {
			f.Add(d, m, uint64(d), uint64(m))
		}
	}
	f.Fuzz(func(t *testing.T, d, m int64, s1, s2 uint64) {
		var j jitter.Jitter
		msg := panicMessage(func() { j = jitter.Additive(time.Duration(m)) })
		if (msg != "") != (m < 0) {
			t.Fatalf("Additive(%v) panicked = %t (%q), want %t", time.Duration(m), msg != "", msg, m < 0)
		}
		if msg != "" {
			return
		}
		dd := max(time.Duration(d), 0)
		checkApply(t, j, time.Duration(d), s1, s2, dd, satAdd(dd, time.Duration(m)))
	})
}
