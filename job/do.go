package job

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/internal/core"
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
	p, key, clk, rnd := resolve(core.Default, opts)
	return run(ctx, op, p, key, clk, rnd)
}

// Wrap returns fn made to retry: each call of the result runs fn under the
// options as Do does, with the call's ctx and argument. The options are
// resolved once, here. Wrap panics if fn is nil.
func Wrap[A, T any](fn func(context.Context, A) (T, error), opts ...Option) func(context.Context, A) (T, error) {
	if fn == nil {
		panic("job: Wrap of a nil function")
	}
	p, key, clk, rnd := resolve(core.Default, opts)
	core.CheckResult[T](p)
	return func(ctx context.Context, a A) (T, error) {
		if ctx == nil {
			panic("job: wrapped function called with a nil context")
		}
		return run(ctx, func(ctx context.Context) (T, error) { return fn(ctx, a) }, p, key, clk, rnd)
	}
}

// defaultEnv is the environment of a call with no Clock or Rand option:
// shared, never written.
var defaultEnv = core.Env{Clock: realClock, Epoch: core.Epoch}

// run is the inline executor of the state machine.
func run[T any](ctx context.Context, op func(context.Context) (T, error), p *core.Policy, key string, clk clock.Clock, rnd *rand.Rand) (T, error) {
	core.CheckResult[T](p)
	// The fast path: a policy that needs no time, a context with no
	// deadline, not inside another job. The first attempt needs no state;
	// most calls end here.
	if !p.NeedsTime() && ctx.Err() == nil {
		if _, hasDeadline := ctx.Deadline(); !hasDeadline && !core.Marked(ctx) {
			v, retryValue, err := call(ctx, op, p)
			if err == nil && !retryValue {
				return v, nil // no hooks: a policy with hooks needs time
			}
			return loop(ctx, op, p, key, clk, rnd, &outcome[T]{v, retryValue, err})
		}
	}
	return loop(ctx, op, p, key, clk, rnd, nil)
}

// outcome is an attempt's result.
type outcome[T any] struct {
	v          T
	retryValue bool
	err        error
}

// loop runs attempts until the state machine ends the job. first, if not
// nil, is the outcome of the first attempt, made by run's fast path.
func loop[T any](ctx context.Context, op func(context.Context) (T, error), p *core.Policy, key string, clk clock.Clock, rnd *rand.Rand, first *outcome[T]) (T, error) {
	env := &defaultEnv
	if clk != nil || rnd != nil {
		if clk == nil {
			clk = realClock
		}
		env = &core.Env{Clock: clk, Rand: rnd, Epoch: core.Epoch}
	}
	var r core.Run
	r.Init(ctx, p, key, env)
	var (
		last T
		nap  sleeper
	)
	defer nap.stop()
	for {
		var o outcome[T]
		if first != nil {
			r.Begin()
			o, first = *first, nil
		} else {
			if ctx.Err() != nil {
				return result(p, last), r.Fail(context.Cause(ctx))
			}
			if r.Late() {
				return result(p, last), r.Fail(core.ErrDeadline)
			}
			n := r.Begin()
			actx := ctx
			var ac *core.AttemptCtx
			if timeout, bounded := r.AttemptTimeout(); bounded {
				ac = new(core.AttemptCtx)
				ac.Start(ctx, n, timeout, bounded, env.Clock, true)
				actx = ac
			} else if n > 1 || core.Marked(ctx) {
				actx = core.Mark(ctx, n)
			}
			o.v, o.retryValue, o.err = call(actx, op, p)
			if ac != nil {
				ac.End()
			}
		}
		last = o.v
		d := r.Judge(o.err, o.retryValue, core.Cause(ctx))
		switch d.Verdict {
		case core.Succeed:
			r.Succeeded()
			return o.v, nil
		case core.GiveUp:
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

// call runs one attempt, recovering a panic into a permanent error.
func call[T any](ctx context.Context, op func(context.Context) (T, error), p *core.Policy) (v T, retryValue bool, err error) {
	defer func() {
		if x := recover(); x != nil {
			var zero T
			v, retryValue, err = zero, false, core.Recovered(x)
		}
	}()
	v, err = op(ctx)
	if err == nil && p.Result != nil {
		retryValue = p.Result.(func(T) bool)(v)
	}
	return v, retryValue, err
}

// result is what a job that gave up returns as its value.
func result[T any](p *core.Policy, last T) T {
	if p.Result != nil {
		return last
	}
	var zero T
	return zero
}
