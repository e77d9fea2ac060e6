package job_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// Efficiency figures are measured with one shared Policy and
// context.Background().

var (
	benchSink int
	benchErr  error
)

func okOp(context.Context) (int, error) { return 1, nil }

// BenchmarkDoSuccess is the cheap path: a shared Policy, an operation that
// succeeds at once. It must not allocate.
func BenchmarkDoSuccess(b *testing.B) {
	p := job.NewPolicy()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		benchSink, benchErr = job.Do(ctx, okOp, p)
	}
}

// BenchmarkDirectCall is BenchmarkDoSuccess's baseline: the operation called
// by hand.
func BenchmarkDirectCall(b *testing.B) {
	ctx := context.Background()
	op := okOp
	b.ReportAllocs()
	for b.Loop() {
		benchSink, benchErr = op(ctx)
	}
}

var errBench = errors.New("bench: transient")

// BenchmarkDoThreeFailures: three failures, three 1ns waits, then success.
func BenchmarkDoThreeFailures(b *testing.B) {
	p := job.NewPolicy(job.Wait(wait.Constant(time.Nanosecond)), job.Jitter(jitter.None))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		benchSink, benchErr = job.Do(ctx, func(context.Context) (int, error) {
			n++
			if n <= 3 {
				return 0, errBench
			}
			return n, nil
		}, p)
	}
}

// BenchmarkHandTimerLoop is BenchmarkDoThreeFailures's baseline: a
// hand-written retry loop with one timer per call, Reset between waits.
func BenchmarkHandTimerLoop(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		op := func(context.Context) (int, error) {
			n++
			if n <= 3 {
				return 0, errBench
			}
			return n, nil
		}
		var timer *time.Timer
		for {
			v, err := op(ctx)
			if err == nil {
				benchSink, benchErr = v, nil
				break
			}
			if timer == nil {
				timer = time.NewTimer(time.Nanosecond)
			} else {
				timer.Reset(time.Nanosecond)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
