package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	avast "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	sethvargo "github.com/sethvargo/go-retry"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// Scenarios 1 and 2: a retry wrapper called inline. Each library is used the
// way its documentation shows, with whatever it lets a caller build once
// built once (Rebound's Policy, failsafe's executor); the rest is built per
// call because the library's state is per call (sethvargo's Backoff) or its
// API takes options per call (cenkalti, avast).

var (
	errFlaky = errors.New("flaky")
	sinkInt  int
)

// succeed is the operation of scenario 1. It is a package variable so that
// the compiler cannot inline it into the direct call.
var succeed = func(context.Context) (int, error) { return 1, nil }

// BenchmarkWrapperSuccess is scenario 1: the operation succeeds at once, so
// what is measured is the wrapper's own cost on the path most calls take.
func BenchmarkWrapperSuccess(b *testing.B) {
	ctx := context.Background()

	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := succeed(ctx)
			use(b, v, err)
		}
	})

	b.Run("rebound", func(b *testing.B) {
		// One shared Policy: the cheap path (DESIGN).
		p := job.NewPolicy(job.MaxAttempts(4))
		b.ReportAllocs()
		for b.Loop() {
			v, err := job.Do(ctx, succeed, p)
			use(b, v, err)
		}
	})

	b.Run("rebound-opts", func(b *testing.B) {
		// Options built per call: the convenient path.
		b.ReportAllocs()
		for b.Loop() {
			v, err := job.Do(ctx, succeed, job.MaxAttempts(4), job.Wait(wait.Exponential(100*time.Millisecond, 2, 30*time.Second)))
			use(b, v, err)
		}
	})

	b.Run("cenkalti", func(b *testing.B) {
		op := func() (int, error) { return succeed(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			v, err := backoff.Retry(ctx, op, backoff.WithMaxTries(4))
			use(b, v, err)
		}
	})

	b.Run("avast", func(b *testing.B) {
		op := func() (int, error) { return succeed(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			v, err := avast.DoWithData(op, avast.Context(ctx), avast.Attempts(4))
			use(b, v, err)
		}
	})

	b.Run("sethvargo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// A sethvargo Backoff counts its retries: one per call.
			bo := sethvargo.WithMaxRetries(3, sethvargo.NewExponential(100*time.Millisecond))
			v, err := sethvargo.DoValue(ctx, bo, succeed)
			use(b, v, err)
		}
	})

	b.Run("failsafe", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[int]().WithMaxAttempts(4).WithBackoff(100*time.Millisecond, 30*time.Second).Build()
		exec := failsafe.With(rp).WithContext(ctx)
		op := func() (int, error) { return succeed(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			v, err := exec.Get(op)
			use(b, v, err)
		}
	})
}

// flaky fails its first left calls, then succeeds.
type flaky struct{ left int }

func (f *flaky) op(context.Context) (int, error) {
	if f.left > 0 {
		f.left--
		return 0, errFlaky
	}
	return 1, nil
}

// tinyWait is the smallest wait every library accepts: a real timer is armed
// and fired for each retry, but it is due at once, so the benchmark measures
// the retry machinery, not the sleeping.
const tinyWait = time.Nanosecond

// BenchmarkWrapperRetry is scenario 2: three failures, then success, with a
// constant 1ns wait and no jitter. The baseline is the loop a programmer
// writes by hand, with a time.NewTimer per wait.
func BenchmarkWrapperRetry(b *testing.B) {
	ctx := context.Background()
	const failures = 3

	b.Run("hand-timer", func(b *testing.B) {
		f := &flaky{}
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			v, err := handLoop(ctx, f.op, failures+1, tinyWait)
			use(b, v, err)
		}
	})

	b.Run("rebound", func(b *testing.B) {
		p := job.NewPolicy(job.MaxAttempts(failures+1), job.Wait(wait.Constant(tinyWait)), job.Jitter(jitter.None))
		f := &flaky{}
		op := f.op
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			v, err := job.Do(ctx, op, p)
			use(b, v, err)
		}
	})

	b.Run("cenkalti", func(b *testing.B) {
		f := &flaky{}
		op := func() (int, error) { return f.op(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			v, err := backoff.Retry(ctx, op, backoff.WithBackOff(backoff.NewConstantBackOff(tinyWait)), backoff.WithMaxTries(failures+1))
			use(b, v, err)
		}
	})

	b.Run("avast", func(b *testing.B) {
		f := &flaky{}
		op := func() (int, error) { return f.op(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			v, err := avast.DoWithData(op, avast.Context(ctx), avast.Attempts(failures+1),
				avast.Delay(tinyWait), avast.DelayType(avast.FixedDelay), avast.LastErrorOnly(true))
			use(b, v, err)
		}
	})

	b.Run("sethvargo", func(b *testing.B) {
		f := &flaky{}
		// sethvargo retries only errors marked retryable.
		op := func(ctx context.Context) (int, error) {
			v, err := f.op(ctx)
			return v, sethvargo.RetryableError(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			bo := sethvargo.WithMaxRetries(failures, sethvargo.NewConstant(tinyWait))
			v, err := sethvargo.DoValue(ctx, bo, op)
			use(b, v, err)
		}
	})

	b.Run("failsafe", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[int]().WithMaxAttempts(failures + 1).WithDelay(tinyWait).Build()
		exec := failsafe.With(rp).WithContext(ctx)
		f := &flaky{}
		op := func() (int, error) { return f.op(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			f.left = failures
			v, err := exec.Get(op)
			use(b, v, err)
		}
	})
}

// handLoop is the retry loop written by hand: attempt, and after a failure
// wait d on a new timer, selected against ctx.
func handLoop(ctx context.Context, op func(context.Context) (int, error), attempts int, d time.Duration) (int, error) {
	for n := 1; ; n++ {
		v, err := op(ctx)
		if err == nil || n == attempts {
			return v, err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

// use fails the benchmark unless the call succeeded with 1.
func use(b *testing.B, v int, err error) {
	if err != nil || v != 1 {
		b.Fatalf("got %d, %v; want 1, nil", v, err)
	}
	sinkInt += v
}
