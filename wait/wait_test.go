package wait_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/wait"
)

const (
	ms  = time.Millisecond
	sec = time.Second
	top = time.Duration(math.MaxInt64)
)

// durations returns ds multiplied by unit.
func durations(unit time.Duration, ds ...int64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d) * unit
	}
	return out
}

// TestSequences checks the exact delays for n = 1, 2, ..., each call given
// the previous delay as prev, as package job does.
func TestSequences(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
		want []time.Duration
	}{
		{"Exponential(100ms,2,30s)", wait.Exponential(100*ms, 2, 30*sec),
			durations(ms, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000)},
		{"Exponential(1s,1.5,0)", wait.Exponential(sec, 1.5, 0),
			durations(1, 1e9, 1.5e9, 2.25e9, 3.375e9, 5.0625e9, 7.59375e9)},
		{"Exponential(1s,1,0)", wait.Exponential(sec, 1, 0),
			durations(sec, 1, 1, 1, 1)},
		{"Exponential(1ns,10,0)", wait.Exponential(1, 10, 0),
			durations(1, 1, 10, 100, 1000, 1e4)},
		{"Exponential(100ms,1.1,0)", wait.Exponential(100*ms, 1.1, 0),
			durations(1, 100e6, 110e6, 121e6, 133.1e6, 146.41e6, 161.051e6)}, // rounded to the nearest ns
		{"Exponential(1s,2,500ms)", wait.Exponential(sec, 2, 500*ms),
			durations(ms, 500, 500, 500)},
		{"Exponential(1s,2,-1)", wait.Exponential(sec, 2, -1),
			durations(sec, 1, 2, 4, 8)},
		{"Fibonacci(100ms,0)", wait.Fibonacci(100*ms, 0),
			durations(ms, 100, 100, 200, 300, 500, 800, 1300, 2100, 3400)},
		{"Fibonacci(1s,4s)", wait.Fibonacci(sec, 4*sec),
			durations(sec, 1, 1, 2, 3, 4, 4, 4)},
		{"Fibonacci(1s,500ms)", wait.Fibonacci(sec, 500*ms),
			durations(ms, 500, 500, 500)},
		{"Linear(1s,500ms,3s)", wait.Linear(sec, 500*ms, 3*sec),
			durations(ms, 1000, 1500, 2000, 2500, 3000, 3000)},
		{"Linear(0,1s,0)", wait.Linear(0, sec, 0),
			durations(sec, 0, 1, 2, 3, 4)},
		{"Linear(2s,0,0)", wait.Linear(2*sec, 0, 0),
			durations(sec, 2, 2, 2)},
		{"Linear(2s,1s,1s)", wait.Linear(2*sec, sec, sec),
			durations(sec, 1, 1, 1)},
		{"Constant(3s)", wait.Constant(3 * sec),
			durations(sec, 3, 3, 3)},
		{"Constant(0)", wait.Constant(0),
			durations(sec, 0, 0, 0)},
		{"Schedule(1s,5s,2s)", wait.Schedule(sec, 5*sec, 2*sec),
			durations(sec, 1, 5, 2)},
		{"Func", wait.Func(func(n int, prev time.Duration) (time.Duration, bool) { return prev + time.Duration(n)*sec, true }),
			durations(sec, 1, 3, 6, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev time.Duration
			for i, want := range tt.want {
				n := i + 1
				got, ok := tt.s.Delay(n, prev, nil)
				if got != want || !ok {
					t.Errorf("Delay(%d) = %v, %t, want %v, true", n, got, ok, want)
				}
				prev = got
			}
		})
	}
}

func TestScheduleRunsOut(t *testing.T) {
	ds := []time.Duration{sec, 2 * sec}
	s := wait.Schedule(ds...)
	ds[0] = time.Hour // Schedule made a copy.
	tests := []struct {
		n      int
		want   time.Duration
		wantOK bool
	}{
		{-5, sec, true},
		{0, sec, true},
		{1, sec, true},
		{2, 2 * sec, true},
		{3, 0, false},
		{4, 0, false},
		{math.MaxInt, 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			got, ok := s.Delay(tt.n, 0, nil)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Delay(%d) = %v, %t, want %v, %t", tt.n, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		if got, ok := wait.Schedule().Delay(1, 0, nil); ok {
			t.Errorf("Delay(1) = %v, true, want ok == false", got)
		}
	})
}

// TestLargeN checks exact values where delays saturate or reach the edge of
// the int64 range.
func TestLargeN(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
		n    int
		want time.Duration
	}{
		{"Exponential(1ns,2,0)/63", wait.Exponential(1, 2, 0), 63, 1 << 62},
		{"Exponential(1ns,2,0)/64", wait.Exponential(1, 2, 0), 64, top},
		{"Exponential(1ns,2,0)/MaxInt", wait.Exponential(1, 2, 0), math.MaxInt, top},
		{"Exponential(1ns,10,0)/19", wait.Exponential(1, 10, 0), 19, 1e18},
		{"Exponential(1ns,10,0)/20", wait.Exponential(1, 10, 0), 20, top},
		{"Exponential(1ns,10,0)/MaxInt", wait.Exponential(1, 10, 0), math.MaxInt, top},
		{"Exponential(1ns,1.0001,0)/MaxInt", wait.Exponential(1, 1.0001, 0), math.MaxInt, top},
		{"Exponential(1ns,1.0001,0)/1e6", wait.Exponential(1, 1.0001, 0), 1e6, top},
		{"Exponential(1ns,1.0001,0)/MaxInt-1", wait.Exponential(1, 1.0001, 0), math.MaxInt - 1, top},
		{"Exponential(1h,2,30s)/MaxInt", wait.Exponential(time.Hour, 2, 30*sec), math.MaxInt, 30 * sec},
		{"Exponential(100ms,2,30s)/MaxInt", wait.Exponential(100*ms, 2, 30*sec), math.MaxInt, 30 * sec},
		{"Exponential(MaxInt64,10,0)/2", wait.Exponential(top, 10, 0), 2, top},
		{"Exponential(MaxInt64-1,1,0)/MaxInt", wait.Exponential(top-1, 1, 0), math.MaxInt, top - 1},
		{"Exponential(MaxInt64-1,1.0001,0)/2", wait.Exponential(top-1, 1.0001, 0), 2, top},
		{"Fibonacci(1ns,0)/92", wait.Fibonacci(1, 0), 92, 7540113804746346429},
		{"Fibonacci(1ns,0)/93", wait.Fibonacci(1, 0), 93, top},
		{"Fibonacci(1ns,0)/MaxInt", wait.Fibonacci(1, 0), math.MaxInt, top},
		{"Fibonacci(2ns,0)/90", wait.Fibonacci(2, 0), 90, 2 * 2880067194370816120},
		{"Fibonacci(2ns,0)/91", wait.Fibonacci(2, 0), 91, top},
		{"Fibonacci(1s,30s)/MaxInt", wait.Fibonacci(sec, 30*sec), math.MaxInt, 30 * sec},
		{"Fibonacci(MaxInt64,0)/MaxInt", wait.Fibonacci(top, 0), math.MaxInt, top},
		{"Linear(0,1ns,0)/MaxInt", wait.Linear(0, 1, 0), math.MaxInt, top - 1},
		{"Linear(1ns,1ns,0)/MaxInt", wait.Linear(1, 1, 0), math.MaxInt, top},
		{"Linear(2ns,1ns,0)/MaxInt", wait.Linear(2, 1, 0), math.MaxInt, top},
		{"Linear(1s,1s,0)/MaxInt", wait.Linear(sec, sec, 0), math.MaxInt, top},
		{"Linear(1s,1s,1m)/MaxInt", wait.Linear(sec, sec, time.Minute), math.MaxInt, time.Minute},
		{"Linear(0,MaxInt64,0)/2", wait.Linear(0, top, 0), 2, top},
		{"Linear(1ns,MaxInt64,0)/2", wait.Linear(1, top, 0), 2, top},
		{"Constant(MaxInt64)/MaxInt", wait.Constant(top), math.MaxInt, top},
		// Decorrelated's first delay is random: its large n are in TestDecorrelated.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.s.Delay(tt.n, 0, nil)
			if got != tt.want || !ok {
				t.Errorf("Delay(%d) = %v, %t, want %v, true", tt.n, got, ok, tt.want)
			}
		})
	}
}

// TestMonotone walks n through every value up to saturation for slowly and
// quickly growing strategies, then checks a few values beyond.
func TestMonotone(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
		lim  time.Duration // the value the delays saturate at
		last int           // if not 0, the first n whose delay is lim
	}{
		{"Exponential(1ns,1.001,0)", wait.Exponential(1, 1.001, 0), top, 0},
		{"Exponential(2^40ns,1.0001,0)", wait.Exponential(1<<40, 1.0001, 0), top, 0},
		{"Exponential(1ns,10,0)", wait.Exponential(1, 10, 0), top, 20},
		{"Exponential(1ns,2,0)", wait.Exponential(1, 2, 0), top, 64},
		{"Exponential(1s,1.1,0)", wait.Exponential(sec, 1.1, 0), top, 0},
		{"Exponential(3ns,1.0001,1h)", wait.Exponential(3, 1.0001, time.Hour), time.Hour, 0},
		{"Fibonacci(1ns,0)", wait.Fibonacci(1, 0), top, 93},
		{"Fibonacci(1ms,1h)", wait.Fibonacci(ms, time.Hour), time.Hour, 0},
		{"Linear(1s,2^45ns,0)", wait.Linear(sec, 1<<45, 0), top, 262145},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, _ := tt.s.Delay(1, 0, nil)
			n := 2
			for ; prev < tt.lim; n++ {
				if n > 1e6 {
					t.Fatalf("Delay(%d) = %v, want saturation at %v", n-1, prev, tt.lim)
				}
				got, _ := tt.s.Delay(n, prev, nil)
				if got < prev {
					t.Fatalf("Delay(%d) = %v, below Delay(%d) = %v", n, got, n-1, prev)
				}
				if tt.last != 0 && (got == tt.lim) != (n >= tt.last) {
					t.Fatalf("Delay(%d) = %v, want %v exactly from n = %d", n, got, tt.lim, tt.last)
				}
				prev = got
			}
			for _, m := range []int{n, n + 1, 2 * n, 1e9, math.MaxInt - 1, math.MaxInt} {
				if got, _ := tt.s.Delay(m, prev, nil); got != tt.lim {
					t.Errorf("Delay(%d) = %v, want %v", m, got, tt.lim)
				}
			}
		})
	}
}

// TestExponentialNearOne samples n for factors so close to 1 that walking to
// saturation is out of reach, where float rounding is most likely to break
// monotonicity.
func TestExponentialNearOne(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, factor := range []float64{1 + 0x1p-52, 1 + 1e-12, 1 + 1e-9, 1 + 1e-6, 1.0001} {
		for _, base := range []time.Duration{1, 100 * ms, 1<<60 + 383} {
			t.Run(fmt.Sprintf("Exponential(%v,%v,0)", base, factor), func(t *testing.T) {
				s := wait.Exponential(base, factor, 0)
				// Saturation is reached near n = ln(2^63/base)/ln(factor).
				end := min(math.Log(float64(top)/float64(base))/math.Log1p(factor-1)*1.1, 1<<62)
				for range 20000 {
					n := 1 + int(r.Int64N(int64(end)))
					d, _ := s.Delay(n, 0, nil)
					next, _ := s.Delay(n+1, d, nil)
					if next < d {
						t.Fatalf("Delay(%d) = %v, below Delay(%d) = %v", n+1, next, n, d)
					}
				}
			})
		}
	}
}

// TestSmallN checks that n < 1 is treated as 1 and prev < 0 as 0. Every
// call gets a fresh source with the same seed, so a strategy whose first
// delay is random (Decorrelated) must draw the same first delay.
func TestSmallN(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
	}{
		{"Exponential", wait.Exponential(100*ms, 2, 30*sec)},
		{"Fibonacci", wait.Fibonacci(100*ms, 0)},
		{"Linear", wait.Linear(100*ms, sec, 0)},
		{"Constant", wait.Constant(sec)},
		{"Schedule", wait.Schedule(sec, 2*sec)},
		{"Decorrelated", wait.Decorrelated(100*ms, 0)},
		{"Func", wait.Func(func(n int, prev time.Duration) (time.Duration, bool) {
			return time.Duration(n)*sec + prev, true
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := func() *rand.Rand { return rand.New(rand.NewPCG(7, 8)) }
			want, _ := tt.s.Delay(1, 0, src())
			for _, n := range []int{0, -5, math.MinInt} {
				for _, prev := range []time.Duration{0, -sec, -top} {
					got, ok := tt.s.Delay(n, prev, src())
					if got != want || !ok {
						t.Errorf("Delay(%d, %v) = %v, %t, want %v, true", n, prev, got, ok, want)
					}
				}
			}
		})
	}
}

func TestFuncNegative(t *testing.T) {
	f := wait.Func(func(int, time.Duration) (time.Duration, bool) { return -sec, false })
	if got, ok := f.Delay(1, 0, nil); got != 0 || ok {
		t.Errorf("Delay(1) = %v, %t, want 0s, false", got, ok)
	}
}

func TestDecorrelated(t *testing.T) {
	t.Run("seeded", func(t *testing.T) {
		// Computed once from rand.NewPCG(1, 2); a change means the algorithm
		// (or its use of the random source) changed.
		// The first delay is drawn too, from uniform[100ms, 300ms].
		want := durations(1, 253874654, 507848977, 1216670075, 2927925999, 2134403124, 359725362, 589501636, 849799206)
		s := wait.Decorrelated(100*ms, 10*sec)
		r := rand.New(rand.NewPCG(1, 2))
		var prev time.Duration
		for i, w := range want {
			got, ok := s.Delay(i+1, prev, r)
			if got != w || !ok {
				t.Errorf("Delay(%d) = %v, %t, want %v, true", i+1, got, ok, w)
			}
			prev = got
		}
	})
	t.Run("bounds", func(t *testing.T) {
		base, cap := 100*ms, 5*sec
		s := wait.Decorrelated(base, cap)
		r := rand.New(rand.NewPCG(3, 4))
		sawCap := false
		var prev time.Duration
		for n := 1; n <= 10000; n++ {
			got, _ := s.Delay(n, prev, r)
			hi := min(cap, max(3*prev, base))
			if n == 1 {
				hi = min(cap, 3*base)
			}
			if got < base || got > hi {
				t.Fatalf("Delay(%d, %v) = %v, want in [%v, %v]", n, prev, got, base, hi)
			}
			sawCap = sawCap || got == cap
			prev = got
		}
		if !sawCap {
			t.Errorf("Delay never reached the cap %v in 10000 retries", cap)
		}
	})
	// Each delay must be in [lo, hi]; lo == hi asks for an exact value.
	tests := []struct {
		name   string
		s      wait.Strategy
		n      int
		prev   time.Duration
		lo, hi time.Duration
	}{
		{"first", wait.Decorrelated(sec, 0), 1, time.Hour, sec, 3 * sec},
		{"first/capped", wait.Decorrelated(sec, 2*sec), 1, 0, sec, 2 * sec},
		{"prev=0", wait.Decorrelated(sec, 0), 5, 0, sec, 3 * sec},
		{"prev<0", wait.Decorrelated(sec, 0), 5, -time.Hour, sec, 3 * sec},
		{"prev*3<base", wait.Decorrelated(sec, 0), 5, 100 * ms, sec, sec},
		{"cap<base/first", wait.Decorrelated(sec, 500*ms), 1, 0, 500 * ms, 500 * ms},
		{"cap<base", wait.Decorrelated(sec, 500*ms), 2, 500 * ms, 500 * ms, 500 * ms},
		{"base=MaxInt64", wait.Decorrelated(top, 0), 2, top, top, top},
		{"base=MaxInt64/first", wait.Decorrelated(top, 0), 1, 0, top, top},
		{"base>MaxInt64/3/first", wait.Decorrelated(top/3+1, 0), 1, 0, top/3 + 1, top},
		{"base>MaxInt64/3/first/capped", wait.Decorrelated(top/3+1, time.Hour), 1, 0, time.Hour, time.Hour},
		{"n=MaxInt/prev=0", wait.Decorrelated(sec, 0), math.MaxInt, 0, sec, 3 * sec},
		{"n=MaxInt/prev=MaxInt64", wait.Decorrelated(sec, 0), math.MaxInt, top, sec, top},
		{"n=MinInt/prev=MaxInt64", wait.Decorrelated(sec, 0), math.MinInt, top, sec, 3 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(100) {
				got, ok := tt.s.Delay(tt.n, tt.prev, rand.New(rand.NewPCG(seed, 2)))
				if got < tt.lo || got > tt.hi || !ok {
					t.Fatalf("seed %d: Delay(%d, %v) = %v, %t, want in [%v, %v], true", seed, tt.n, tt.prev, got, ok, tt.lo, tt.hi)
				}
			}
		})
	}
	t.Run("prev=MaxInt64", func(t *testing.T) {
		s := wait.Decorrelated(sec, 0)
		for _, r := range []*rand.Rand{nil, rand.New(rand.NewPCG(1, 2))} {
			for range 100 {
				if got, _ := s.Delay(2, top, r); got < sec {
					t.Fatalf("Delay(2, MaxInt64) = %v, want >= 1s", got)
				}
			}
		}
	})
}

// TestDecorrelatedFirstDelay checks AWS's rule that sleep starts at base, so
// the first delay is already uniform in [base, min(3*base, max)]: clients
// that failed together must not retry together. Over 1000 seeds the first
// delay stays in range, is not always base, and hits both halves of the
// range. (Rebound once returned exactly base for every first retry.)
func TestDecorrelatedFirstDelay(t *testing.T) {
	tests := []struct {
		name      string
		base, max time.Duration
		hi        time.Duration // min(3*base, max), saturated
	}{
		{"100ms,uncapped", 100 * ms, 0, 300 * ms},
		{"100ms,10s", 100 * ms, 10 * sec, 300 * ms},
		{"100ms,200ms", 100 * ms, 200 * ms, 200 * ms},
		{"5ms,2s", 5 * ms, 2 * sec, 15 * ms},
		{"1ns,uncapped", 1, 0, 3},
		{"MaxInt64/2,uncapped", top / 2, 0, top},
	}
	const seeds = 1000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wait.Decorrelated(tt.base, tt.max)
			mid := tt.base + (tt.hi-tt.base)/2
			var atBase, low, high int
			for seed := range uint64(seeds) {
				r := rand.New(rand.NewPCG(seed, 42))
				got, ok := s.Delay(1, 0, r)
				if got < tt.base || got > tt.hi || !ok {
					t.Fatalf("seed %d: Delay(1, 0) = %v, %t, want in [%v, %v], true", seed, got, ok, tt.base, tt.hi)
				}
				if got == tt.base {
					atBase++
				}
				if got < mid {
					low++
				} else {
					high++
				}
			}
			if atBase == seeds {
				t.Errorf("Delay(1, 0) = %v for all %d seeds, want uniform in [%v, %v]", tt.base, seeds, tt.base, tt.hi)
			}
			// Uniform draws put ~50% (~25% when capped at 2*base) below mid;
			// 10% is far below either.
			if low < seeds/10 || high < seeds/10 {
				t.Errorf("Delay(1, 0) below %v for %d seeds and at or above for %d of %d, want both halves hit", mid, low, high, seeds)
			}
		})
	}
}

func TestSelfJittered(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
		want bool
	}{
		{"Decorrelated", wait.Decorrelated(sec, 0), true},
		{"Exponential", wait.Exponential(sec, 2, 0), false},
		{"Fibonacci", wait.Fibonacci(sec, 0), false},
		{"Linear", wait.Linear(sec, sec, 0), false},
		{"Constant", wait.Constant(sec), false},
		{"Schedule", wait.Schedule(sec), false},
		{"Func", wait.Func(func(int, time.Duration) (time.Duration, bool) { return 0, true }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sj, ok := tt.s.(wait.SelfJittered)
			if got := ok && sj.SelfJittered(); got != tt.want {
				t.Errorf("SelfJittered() = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string // prefix of the panic message
	}{
		{"Exponential/base<0", func() { wait.Exponential(-1, 2, 0) }, "wait: Exponential base must not be negative, got -1ns"},
		{"Exponential/base=0", func() { wait.Exponential(0, 2, 0) }, "wait: Exponential base must be positive, got 0: it would always return 0 (use Constant(0)"},
		{"Exponential/factor<1", func() { wait.Exponential(sec, 0.5, 0) }, "wait: Exponential factor must be >= 1 and finite, got 0.5"},
		{"Exponential/factor<0", func() { wait.Exponential(sec, -2, 0) }, "wait: Exponential factor must be >= 1 and finite, got -2"},
		{"Exponential/NaN", func() { wait.Exponential(sec, math.NaN(), 0) }, "wait: Exponential factor must be >= 1 and finite, got NaN"},
		{"Exponential/+Inf", func() { wait.Exponential(sec, math.Inf(1), 0) }, "wait: Exponential factor must be >= 1 and finite, got +Inf"},
		{"Exponential/-Inf", func() { wait.Exponential(sec, math.Inf(-1), 0) }, "wait: Exponential factor must be >= 1 and finite, got -Inf"},
		{"Fibonacci/base<0", func() { wait.Fibonacci(-sec, 0) }, "wait: Fibonacci base must not be negative, got -1s"},
		{"Fibonacci/base=0", func() { wait.Fibonacci(0, sec) }, "wait: Fibonacci base must be positive, got 0: it would always return 0"},
		{"Decorrelated/base<0", func() { wait.Decorrelated(-sec, 0) }, "wait: Decorrelated base must not be negative, got -1s"},
		{"Decorrelated/base=0", func() { wait.Decorrelated(0, sec) }, "wait: Decorrelated base must be positive, got 0: it would always return 0"},
		{"Linear/base<0", func() { wait.Linear(-sec, sec, 0) }, "wait: Linear base must not be negative, got -1s"},
		{"Linear/step<0", func() { wait.Linear(sec, -sec, 0) }, "wait: Linear step must not be negative, got -1s"},
		{"Constant/d<0", func() { wait.Constant(-sec) }, "wait: Constant d must not be negative, got -1s"},
		{"Schedule/entry<0", func() { wait.Schedule(sec, 2*sec, -sec) }, "wait: Schedule entry 2 must not be negative, got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := panicMessage(tt.f)
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("panic message = %q, want prefix %q", msg, tt.want)
			}
		})
	}
}

// panicMessage calls f and returns the string it panicked with, or "" if it
// returned normally.
func panicMessage(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprint(v)
			if msg == "" {
				msg = "<empty panic>"
			}
		}
	}()
	f()
	return ""
}

func TestAllocs(t *testing.T) {
	tests := []struct {
		name string
		s    wait.Strategy
	}{
		{"Exponential", wait.Exponential(100*ms, 2, 30*sec)},
		{"Fibonacci", wait.Fibonacci(100*ms, 30*sec)},
		{"Linear", wait.Linear(100*ms, sec, 30*sec)},
		{"Constant", wait.Constant(sec)},
		{"Schedule", wait.Schedule(sec, 2*sec)},
		{"Decorrelated", wait.Decorrelated(100*ms, 30*sec)},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			allocs := testing.AllocsPerRun(100, func() {
				n++
				tt.s.Delay(n, sec, r)
			})
			if allocs != 0 {
				t.Errorf("Delay allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// TestConcurrentUse shares one strategy between goroutines, each with its
// own random source or nil; run with -race.
func TestConcurrentUse(t *testing.T) {
	strategies := []wait.Strategy{
		wait.Exponential(100*ms, 2, 30*sec),
		wait.Decorrelated(100*ms, 30*sec),
		wait.Schedule(sec, 2*sec),
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			var r *rand.Rand
			if g%2 == 1 {
				r = rand.New(rand.NewPCG(uint64(g), 0))
			}
			for _, s := range strategies {
				var prev time.Duration
				for n := 1; n <= 100; n++ {
					prev, _ = s.Delay(n, prev, r)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
