package jitter_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/jitter"
)

const top = time.Duration(math.MaxInt64)

// TestSeeded pins the exact delays drawn from rand.NewPCG(1, 2) for a base of
// one second. They were computed once; a change means the algorithm (or its
// use of the random source) changed, which breaks users' reproducible runs.
func TestSeeded(t *testing.T) {
	tests := []struct {
		name string
		j    jitter.Jitter
		want []time.Duration
	}{
		{"Full", jitter.Full, []time.Duration{769373270, 616436224, 784428002, 796596579, 234276270}},
		{"Equal", jitter.Equal, []time.Duration{884686635, 808218112, 892214001, 898298290, 617138135}},
		{"None", jitter.None, []time.Duration{1e9, 1e9, 1e9, 1e9, 1e9}},
		{"Proportional(0.5)", jitter.Proportional(0.5), []time.Duration{1269373270, 1116436224, 1284428002, 1296596579, 734276270}},
		{"Additive(1s)", jitter.Additive(time.Second), []time.Duration{1769373270, 1616436224, 1784428002, 1796596579, 1234276270}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for i, want := range tt.want {
				if got := tt.j.Apply(time.Second, r); got != want {
					t.Errorf("draw %d: Apply(1s) = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestRange checks that each jitter reaches every value of a small range,
// both ends included, and nothing outside it.
func TestRange(t *testing.T) {
	tests := []struct {
		name   string
		j      jitter.Jitter
		d      time.Duration
		lo, hi time.Duration
	}{
		{"Full(4)", jitter.Full, 4, 0, 4},
		{"Full(1)", jitter.Full, 1, 0, 1},
		{"Full(0)", jitter.Full, 0, 0, 0},
		{"Full(-3)", jitter.Full, -3, 0, 0},
		{"Equal(6)", jitter.Equal, 6, 3, 6},
		{"Equal(5)", jitter.Equal, 5, 3, 5},
		{"Equal(1)", jitter.Equal, 1, 1, 1},
		{"Equal(-3)", jitter.Equal, -3, 0, 0},
		{"None(5)", jitter.None, 5, 5, 5},
		{"None(-5)", jitter.None, -5, 0, 0},
		{"Proportional(0.5)(4)", jitter.Proportional(0.5), 4, 2, 6},
		{"Proportional(0.5)(5)", jitter.Proportional(0.5), 5, 3, 7}, // 2.5 rounded toward d
		{"Proportional(1)(3)", jitter.Proportional(1), 3, 0, 6},
		{"Proportional(0)(3)", jitter.Proportional(0), 3, 3, 3},
		{"Proportional(0.5)(-3)", jitter.Proportional(0.5), -3, 0, 0},
		{"Additive(3)(2)", jitter.Additive(3), 2, 2, 5},
		{"Additive(0)(2)", jitter.Additive(0), 2, 2, 2},
		{"Additive(3)(-2)", jitter.Additive(3), -2, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			seen := make(map[time.Duration]bool)
			for range 1000 {
				got := tt.j.Apply(tt.d, r)
				if got < tt.lo || got > tt.hi {
					t.Fatalf("Apply(%v) = %v, want in [%v, %v]", tt.d, got, tt.lo, tt.hi)
				}
				seen[got] = true
			}
			if want := int(tt.hi-tt.lo) + 1; len(seen) != want {
				t.Errorf("Apply(%v) gave %d distinct values in 1000 draws, want all %d of [%v, %v]", tt.d, len(seen), want, tt.lo, tt.hi)
			}
		})
	}
}

// TestExtremes checks that the largest delays neither overflow nor go
// negative, with a seeded source and with nil.
func TestExtremes(t *testing.T) {
	tests := []struct {
		name   string
		j      jitter.Jitter
		d      time.Duration
		lo, hi time.Duration
	}{
		{"Full", jitter.Full, top, 0, top},
		{"Equal", jitter.Equal, top, top - top/2, top},
		{"None", jitter.None, top, top, top},
		{"Proportional(0.5)", jitter.Proportional(0.5), top, top / 2, top},
		{"Proportional(1)", jitter.Proportional(1), top, 0, top},
		{"Proportional(1e-300)", jitter.Proportional(1e-300), top, top, top},
		{"Proportional(1)/2^62", jitter.Proportional(1), 1 << 62, 0, top},
		{"Additive(MaxInt64)", jitter.Additive(top), top, top, top},
		{"Additive(MaxInt64)/0", jitter.Additive(top), 0, 0, top},
		{"Additive(1s)/MaxInt64-1", jitter.Additive(time.Second), top - 1, top - 1, top},
		{"Full/MinInt64", jitter.Full, math.MinInt64, 0, 0},
		{"Additive(1s)/MinInt64", jitter.Additive(time.Second), math.MinInt64, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*rand.Rand{rand.New(rand.NewPCG(1, 2)), nil} {
				for range 100 {
					if got := tt.j.Apply(tt.d, r); got < tt.lo || got > tt.hi {
						t.Fatalf("Apply(%v) = %v, want in [%v, %v]", tt.d, got, tt.lo, tt.hi)
					}
				}
			}
		})
	}
}

func TestFunc(t *testing.T) {
	var gotD time.Duration
	j := jitter.Func(func(d time.Duration, _ *rand.Rand) time.Duration {
		gotD = d
		return d - time.Second
	})
	tests := []struct {
		d, wantArg, want time.Duration
	}{
		{3 * time.Second, 3 * time.Second, 2 * time.Second},
		{time.Second / 2, time.Second / 2, 0},
		{-time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := j.Apply(tt.d, nil); got != tt.want || gotD != tt.wantArg {
				t.Errorf("Apply(%v) = %v (function called with %v), want %v (called with %v)", tt.d, got, gotD, tt.want, tt.wantArg)
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
		{"Proportional(-0.1)", func() { jitter.Proportional(-0.1) }, "jitter: Proportional factor must be in [0, 1], got -0.1"},
		{"Proportional(1.5)", func() { jitter.Proportional(1.5) }, "jitter: Proportional factor must be in [0, 1], got 1.5"},
		{"Proportional(NaN)", func() { jitter.Proportional(math.NaN()) }, "jitter: Proportional factor must be in [0, 1], got NaN"},
		{"Proportional(+Inf)", func() { jitter.Proportional(math.Inf(1)) }, "jitter: Proportional factor must be in [0, 1], got +Inf"},
		{"Additive(-1ns)", func() { jitter.Additive(-1) }, "jitter: Additive max must not be negative, got -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := panicMessage(tt.f); !strings.HasPrefix(msg, tt.want) {
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
		j    jitter.Jitter
	}{
		{"Full", jitter.Full},
		{"Equal", jitter.Equal},
		{"None", jitter.None},
		{"Proportional", jitter.Proportional(0.2)},
		{"Additive", jitter.Additive(time.Second)},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*rand.Rand{r, nil} {
				if allocs := testing.AllocsPerRun(100, func() { tt.j.Apply(time.Second, r) }); allocs != 0 {
					t.Errorf("Apply allocates %v times per call, want 0", allocs)
				}
			}
		})
	}
}

// TestConcurrentUse shares the jitters between goroutines, each with its own
// random source or nil; run with -race.
func TestConcurrentUse(t *testing.T) {
	jitters := []jitter.Jitter{jitter.Full, jitter.Equal, jitter.Proportional(0.5), jitter.Additive(time.Second)}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			var r *rand.Rand
			if g%2 == 1 {
				r = rand.New(rand.NewPCG(uint64(g), 0))
			}
			for _, j := range jitters {
				for range 100 {
					j.Apply(time.Second, r)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
