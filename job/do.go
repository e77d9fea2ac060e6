package job

import (
	"context"
	"math/rand/v2"

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
	return func(ctx context.Context, a A) (T, error) {
		if ctx == nil {
			panic("job: wrapped function called with a nil context")
		}
		return run(ctx, func(ctx context.Context) (T, error) { return fn(ctx, a) }, p, key, clk, rnd)
	}
}

// run is the inline executor of the state machine.
func run[T any](ctx context.Context, op func(context.Context) (T, error), p *core.Policy, key string, clk clock.Clock, rnd *rand.Rand) (T, error) {
	core.CheckResult[T](p)
	if clk == nil {
		clk = realClock
	}
	env := core.Env{Clock: clk, Rand: rnd, Epoch: core.Epoch}
	var r core.Run
	r.Init(ctx, p, key, &env)
	var (
		last  T
		timer *clock.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return result(p, last), r.Fail(context.Cause(ctx))
		}
		n := r.Begin()
		actx := ctx
		var ac *core.AttemptCtx
		if timeout, bounded := r.AttemptTimeout(); bounded || n > 1 || core.Marked(ctx) {
			ac = new(core.AttemptCtx)
			ac.Start(ctx, n, timeout, bounded, clk, true)
			actx = ac
		}
		v, retryValue, err := call(actx, op, p)
		if ac != nil {
			ac.End()
		}
		last = v
		d := r.Judge(err, retryValue, core.Cause(ctx))
		switch d.Verdict {
		case core.Succeed:
			r.Succeeded()
			return v, nil
		case core.GiveUp:
			final := r.Fail(d.Reason)
			r.GaveUp(final)
			return result(p, last), final
		}
		wait := d.Wait
		r.Retrying(wait)
		if wait <= 0 {
			continue
		}
		if timer == nil {
			timer = clk.Timer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return result(p, last), r.Fail(context.Cause(ctx))
		}
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
