package jitter_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rebound-go/rebound/jitter"
)

var sinkDuration time.Duration

func BenchmarkFullApply(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		sinkDuration = jitter.Full.Apply(time.Second, r)
	}
}

func BenchmarkFullApplyNilRand(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkDuration = jitter.Full.Apply(time.Second, nil)
	}
}

// BenchmarkInt64NBaseline is the baseline for BenchmarkFullApply: the
// random draw alone, without the interface call and the overflow guard.
func BenchmarkInt64NBaseline(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	d := time.Second
	b.ReportAllocs()
	for b.Loop() {
		sinkDuration = time.Duration(r.Int64N(int64(d) + 1))
	}
}

func BenchmarkProportionalApply(b *testing.B) {
	j := jitter.Proportional(0.2)
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		sinkDuration = j.Apply(time.Second, r)
	}
}
