package wait_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rebound-go/rebound/wait"
)

// limitOf returns the largest delay a strategy capped at ceil may return.
func limitOf(ceil time.Duration) time.Duration {
	if ceil <= 0 {
		return top
	}
	return ceil
}

// build calls newS and reports whether it panicked, failing t if it panicked
// when it should not have or the other way round.
func build(t *testing.T, wantPanic bool, newS func() wait.Strategy) (wait.Strategy, bool) {
	t.Helper()
	var s wait.Strategy
	msg := panicMessage(func() { s = newS() })
	if (msg != "") != wantPanic {
		t.Fatalf("panicked = %t (%q), want %t", msg != "", msg, wantPanic)
	}
	return s, msg == ""
}

// checkMonotone checks the properties shared by Exponential, Fibonacci and
// Linear for retry n: the first delay is min(base, cap), every delay is in
// [min(base, cap), cap], and Delay(n+1) >= Delay(n). It returns Delay(n).
func checkMonotone(t *testing.T, s wait.Strategy, base, lim time.Duration, n int) time.Duration {
	t.Helper()
	first := min(base, lim)
	if got, ok := s.Delay(1, 0, nil); got != first || !ok {
		t.Fatalf("Delay(1) = %v, %t, want %v, true", got, ok, first)
	}
	d, ok := s.Delay(n, 0, nil)
	if !ok {
		t.Fatalf("Delay(%d) = %v, false, want ok", n, d)
	}
	if d < first || d > lim {
		t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, first, lim)
	}
	if n < math.MaxInt {
		next, _ := s.Delay(n+1, d, nil)
		if next < d {
			t.Fatalf("Delay(%d) = %v, below Delay(%d) = %v", n+1, next, n, d)
		}
	}
	return d
}

func FuzzExponential(f *testing.F) {
	f.Add(int64(100*ms), 2.0, int64(30*sec), 5)
	f.Add(int64(1), 1.0001, int64(0), math.MaxInt)
	f.Add(int64(1), 1.0001, int64(0), 436000)
	f.Add(int64(1), 10.0, int64(-1), 20)
	f.Add(int64(1), 2.0, int64(0), 64)
	f.Add(int64(math.MaxInt64), 1.5, int64(0), 2)
	f.Add(int64(1<<60+383), 1.0, int64(0), 7)
	f.Add(int64(1<<60+383), 1+0x1p-52, int64(0), 7)
	f.Add(int64(1<<60+383), 2.0, int64(0), 2)
	f.Add(int64(1<<52+1), 2.0, int64(0), 2)
	f.Add(int64(sec), 1.0, int64(ms), 0)
	f.Add(int64(sec), 0.5, int64(0), 1)
	f.Add(int64(0), 2.0, int64(0), 1)
	f.Add(int64(-1), 2.0, int64(0), 1)
	f.Add(int64(sec), math.NaN(), int64(0), 1)
	f.Add(int64(sec), math.Inf(1), int64(0), 1)
	f.Fuzz(func(t *testing.T, base int64, factor float64, ceil int64, n int) {
		invalid := base <= 0 || !(factor >= 1) || math.IsInf(factor, 0)
		_, ok := build(t, invalid, func() wait.Strategy {
			return wait.Exponential(time.Duration(base), factor, time.Duration(ceil))
		})
		if base <= 0 {
			return
		}
		if !ok {
			// Fold an invalid factor into [1, 10) so that the properties
			// below are checked for many factors, most of them near 1.
			if math.IsNaN(factor) || math.IsInf(factor, 0) {
				factor = 1
			}
			factor = 1 + math.Mod(math.Abs(factor), 9)
		}
		s := wait.Exponential(time.Duration(base), factor, time.Duration(ceil))
		lim := limitOf(time.Duration(ceil))
		d := checkMonotone(t, s, time.Duration(base), lim, n)
		// Exact where the float computation is exact: factor 2 and a result
		// below 2^53.
		if factor == 2 && n >= 1 && n <= 53 && base < 1<<(54-n) && base<<(n-1) <= int64(lim) {
			if want := time.Duration(base) << (n - 1); d != want {
				t.Fatalf("Delay(%d) = %v, want %v", n, d, want)
			}
		}
	})
}

func FuzzFibonacci(f *testing.F) {
	f.Add(int64(100*ms), int64(30*sec), 5)
	f.Add(int64(1), int64(0), 91)
	f.Add(int64(1), int64(0), 92)
	f.Add(int64(1), int64(0), math.MaxInt)
	f.Add(int64(2), int64(-5), 90)
	f.Add(int64(math.MaxInt64), int64(0), 3)
	f.Add(int64(sec), int64(ms), 0)
	f.Add(int64(0), int64(0), 1)
	f.Add(int64(-1), int64(0), 1)
	f.Fuzz(func(t *testing.T, base, ceil int64, n int) {
		s, ok := build(t, base <= 0, func() wait.Strategy {
			return wait.Fibonacci(time.Duration(base), time.Duration(ceil))
		})
		if !ok {
			return
		}
		lim := limitOf(time.Duration(ceil))
		d := checkMonotone(t, s, time.Duration(base), lim, n)
		// Below the cap the recurrence holds exactly: D(n+2) = D(n+1) + D(n).
		if n >= 1 && n <= math.MaxInt-2 {
			d1, _ := s.Delay(n+1, d, nil)
			d2, _ := s.Delay(n+2, d1, nil)
			if d2 < lim && d2 != d+d1 {
				t.Fatalf("Delay(%d) = %v, want Delay(%d) + Delay(%d) = %v", n+2, d2, n, n+1, d+d1)
			}
		}
	})
}

func FuzzLinear(f *testing.F) {
	f.Add(int64(sec), int64(500*ms), int64(3*sec), 4)
	f.Add(int64(0), int64(1), int64(0), math.MaxInt)
	f.Add(int64(1), int64(1), int64(0), math.MaxInt)
	f.Add(int64(0), int64(math.MaxInt64), int64(0), 2)
	f.Add(int64(sec), int64(0), int64(ms), 3)
	f.Add(int64(-1), int64(1), int64(0), 1)
	f.Add(int64(1), int64(-1), int64(0), 1)
	f.Fuzz(func(t *testing.T, base, step, ceil int64, n int) {
		s, ok := build(t, base < 0 || step < 0, func() wait.Strategy {
			return wait.Linear(time.Duration(base), time.Duration(step), time.Duration(ceil))
		})
		if !ok {
			return
		}
		lim := limitOf(time.Duration(ceil))
		d := checkMonotone(t, s, time.Duration(base), lim, n)
		// Below the cap consecutive delays differ by exactly step.
		if n >= 1 && n < math.MaxInt {
			next, _ := s.Delay(n+1, d, nil)
			if next < lim && next-d != time.Duration(step) {
				t.Fatalf("Delay(%d) - Delay(%d) = %v, want %v", n+1, n, next-d, time.Duration(step))
			}
		}
	})
}

func FuzzConstant(f *testing.F) {
	f.Add(int64(0), 1)
	f.Add(int64(sec), math.MaxInt)
	f.Add(int64(math.MaxInt64), -5)
	f.Add(int64(-1), 1)
	f.Fuzz(func(t *testing.T, d int64, n int) {
		s, ok := build(t, d < 0, func() wait.Strategy { return wait.Constant(time.Duration(d)) })
		if !ok {
			return
		}
		if got, ok := s.Delay(n, 0, nil); got != time.Duration(d) || !ok {
			t.Fatalf("Delay(%d) = %v, %t, want %v, true", n, got, ok, time.Duration(d))
		}
	})
}

func FuzzSchedule(f *testing.F) {
	f.Add(int64(sec), int64(2*sec), int64(0), 3)
	f.Add(int64(sec), int64(2*sec), int64(0), 4)
	f.Add(int64(math.MaxInt64), int64(0), int64(1), math.MaxInt)
	f.Add(int64(1), int64(-1), int64(1), 0)
	f.Fuzz(func(t *testing.T, a, b, c int64, n int) {
		ds := []time.Duration{time.Duration(a), time.Duration(b), time.Duration(c)}
		s, ok := build(t, a < 0 || b < 0 || c < 0, func() wait.Strategy { return wait.Schedule(ds...) })
		if !ok {
			return
		}
		want, wantOK := time.Duration(0), false
		if i := max(n, 1); i <= len(ds) {
			want, wantOK = ds[i-1], true
		}
		if got, ok := s.Delay(n, 0, nil); got != want || ok != wantOK {
			t.Fatalf("Delay(%d) = %v, %t, want %v, %t", n, got, ok, want, wantOK)
		}
	})
}

func FuzzDecorrelated(f *testing.F) {
	f.Add(int64(100*ms), int64(10*sec), 2, int64(time.Second), uint64(1))
	f.Add(int64(1), int64(0), 2, int64(math.MaxInt64), uint64(2))
	f.Add(int64(1), int64(0), math.MaxInt, int64(math.MaxInt64/3+1), uint64(3))
	f.Add(int64(math.MaxInt64), int64(0), 5, int64(math.MaxInt64), uint64(4))
	f.Add(int64(sec), int64(ms), 3, int64(sec), uint64(5))
	f.Add(int64(sec), int64(0), 3, int64(ms), uint64(6))
	f.Add(int64(sec), int64(0), 0, int64(-1), uint64(7))
	f.Add(int64(0), int64(0), 1, int64(0), uint64(8))
	f.Add(int64(math.MaxInt64/3+1), int64(0), 1, int64(0), uint64(9))
	f.Add(int64(sec), int64(2*sec), 1, int64(0), uint64(10))
	f.Fuzz(func(t *testing.T, base, ceil int64, n int, prev int64, seed uint64) {
		s, ok := build(t, base <= 0, func() wait.Strategy {
			return wait.Decorrelated(time.Duration(base), time.Duration(ceil))
		})
		if !ok {
			return
		}
		b, p, lim := time.Duration(base), time.Duration(prev), limitOf(time.Duration(ceil))
		// AWS: sleep starts at base, so the first delay is in [base, 3*base].
		sleep := p
		if n <= 1 || p <= 0 {
			sleep = b
		}
		s3 := top
		if sleep <= top/3 {
			s3 = 3 * sleep
		}
		lo, hi := min(b, lim), min(lim, max(b, s3))
		for _, r := range []*rand.Rand{rand.New(rand.NewPCG(seed, 0)), nil} {
			d, ok := s.Delay(n, p, r)
			if d < lo || d > hi || !ok {
				t.Fatalf("Delay(%d, %v) = %v, %t, want in [%v, %v], true", n, p, d, ok, lo, hi)
			}
		}
	})
}
