package job

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/benbjohnson/clock"
)

// realClock is the clock when none is given.
var realClock = clock.New()

// Do runs op until it succeeds or the policy gives up, in the caller's
// goroutine, waiting between attempts on a timer (selected against ctx). It
// returns op's value, or the zero value (the last value under RetryOnResult)
// and a *Error whose Reason says why it gave up: ErrExhausted, ErrDeadline,
// ErrPermanent, or ctx's cause when ctx ends (then Do returns at once, even
// mid-wait; a running attempt sees its context canceled and Do returns when it
// does). On a ctx that is already done it makes no attempt.
//
// Options apply left to right over the defaults (see the package doc); Clock
// and Rand set the clock and random source. Do panics if ctx or op is nil, or
// if a RetryOnResult predicate is for another type than T.
func Do[T any](ctx context.Context, op func(context.Context) (T, error), opts ...Option) (T, error) {
	if ctx == nil {
		panic("job: Do with a nil context")
	}
	if op == nil {
		panic("job: Do with a nil operation")
	}
	p, key, clk, rnd := resolve(defaults, opts)
	return run(ctx, op, p, key, clk, rnd)
}

// Wrap returns fn made to retry: each call of the result runs fn under the
// options as Do does, with the call's ctx and argument. The options are
// resolved once, here. Wrap panics if fn is nil.
func Wrap[A, T any](fn func(context.Context, A) (T, error), opts ...Option) func(context.Context, A) (T, error) {
	if fn == nil {
		panic("job: Wrap of a nil function")
	}
	p, key, clk, rnd := resolve(defaults, opts)
	CheckResult[T](p)
	return func(ctx context.Context, a A) (T, error) {
		if ctx == nil {
			panic("job: wrapped function called with a nil context")
		}
		return run(ctx, func(ctx context.Context) (T, error) { return fn(ctx, a) }, p, key, clk, rnd)
	}
}

// epoch is the epoch of Do's runs: the process start, on the monotonic clock.
var epoch = time.Now()

// defaultEnv is the environment of a call with no Clock or Rand option:
// shared, never written.
var defaultEnv = Env{Clock: realClock, Epoch: epoch}

// run is the inline executor of the state machine.
func run[T any](ctx context.Context, op func(context.Context) (T, error), p *Policy, key string, clk clock.Clock, rnd *rand.Rand) (T, error) {
	CheckResult[T](p)
	// The fast path: a policy that needs no time, a context with no
	// deadline, not inside another job. The first attempt needs no state;
	// most calls end here.
	if !p.needsTime && ctx.Err() == nil {
		if _, hasDeadline := ctx.Deadline(); !hasDeadline && !marked(ctx) {
			v, o := invoke(ctx, OpFunc[T](op), p)
			if !o.Failed() {
				return v, nil // no hooks: a policy with hooks needs time
			}
			return loop(ctx, op, p, key, clk, rnd, &first[T]{v, o})
		}
	}
	return loop(ctx, op, p, key, clk, rnd, nil)
}

// first is the first attempt's result, when run's fast path made it.
type first[T any] struct {
	v T
	o Outcome
}

// loop runs attempts until the state machine ends the job.
func loop[T any](ctx context.Context, op func(context.Context) (T, error), p *Policy, key string, clk clock.Clock, rnd *rand.Rand, done *first[T]) (T, error) {
	env := &defaultEnv
	if clk != nil || rnd != nil {
		if clk == nil {
			clk = realClock
		}
		env = &Env{Clock: clk, Rand: rnd, Epoch: epoch}
	}
	var (
		r    Run
		last T
		nap  sleeper
	)
	r.Start(ctx, p, key, env)
	defer nap.stop()
	for {
		var v T
		var o Outcome
		if done != nil {
			r.Begin()
			v, o, done = done.v, done.o, nil
		} else {
			if ctx.Err() != nil {
				return result(p, last), r.Fail(context.Cause(ctx))
			}
			if r.Late() {
				return result(p, last), r.Fail(ErrDeadline)
			}
			r.Begin()
			v, o = Call(ctx, &r, nil, OpFunc[T](op))
		}
		last = v
		d := r.Judge(o, cause(ctx))
		switch {
		case d.Succeeded():
			r.Succeeded()
			return v, nil
		case !d.Retry:
			final := r.Fail(d.Reason)
			r.GaveUp(final)
			return result(p, last), final
		}
		// Arm the timer before the hook, so that the hook's time counts
		// toward the wait rather than adding to it.
		var wake <-chan time.Time
		if d.Wait > 0 {
			wake = nap.arm(env.Clock, d.Wait)
		}
		r.Retrying(d.Wait)
		if wake == nil {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return result(p, last), r.Fail(context.Cause(ctx))
		}
	}
}

// sleeper is Do's one timer, reused between waits: a time.Timer on the
// real clock (no wrapper), a clock.Timer on any other.
type sleeper struct {
	rt *time.Timer
	ct *clock.Timer
}

func (s *sleeper) arm(clk clock.Clock, d time.Duration) <-chan time.Time {
	if clk == realClock {
		if s.rt == nil {
			s.rt = time.NewTimer(d)
		} else {
			s.rt.Reset(d)
		}
		return s.rt.C
	}
	if s.ct == nil {
		s.ct = clk.Timer(d)
	} else {
		s.ct.Stop()
		s.ct.Reset(d)
	}
	return s.ct.C
}

func (s *sleeper) stop() {
	if s.rt != nil {
		s.rt.Stop()
	}
	if s.ct != nil {
		s.ct.Stop()
	}
}

// result is what a job that gave up returns as its value.
func result[T any](p *Policy, last T) T {
	if p.result != nil {
		return last
	}
	var zero T
	return zero
}
