package wait_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rebound-go/rebound/wait"
)

var sinkDuration time.Duration

func BenchmarkExponentialDelay(b *testing.B) {
	s := wait.Exponential(100*time.Millisecond, 2, 30*time.Second)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = n%20 + 1
		sinkDuration, _ = s.Delay(n, 0, nil)
	}
}

func BenchmarkExponentialDelayLargeN(b *testing.B) {
	s := wait.Exponential(100*time.Millisecond, 1.0001, 0)
	b.ReportAllocs()
	n := 1 << 40
	for b.Loop() {
		n++
		sinkDuration, _ = s.Delay(n, 0, nil)
	}
}

// BenchmarkShiftBaseline is the baseline for BenchmarkExponentialDelay: the
// same doubling sequence as a hand-written shift with a cap, no interface.
func BenchmarkShiftBaseline(b *testing.B) {
	base, ceil := 100*time.Millisecond, 30*time.Second
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = n%20 + 1
		d := ceil
		if base <= ceil>>(n-1) {
			d = base << (n - 1)
		}
		sinkDuration = d
	}
}

func BenchmarkFibonacciDelay(b *testing.B) {
	s := wait.Fibonacci(100*time.Millisecond, 30*time.Second)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = n%20 + 1
		sinkDuration, _ = s.Delay(n, 0, nil)
	}
}

func BenchmarkDecorrelatedDelay(b *testing.B) {
	s := wait.Decorrelated(100*time.Millisecond, 30*time.Second)
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	var prev time.Duration
	n := 0
	for b.Loop() {
		n = n%20 + 1
		prev, _ = s.Delay(n, prev, r)
	}
	sinkDuration = prev
}
