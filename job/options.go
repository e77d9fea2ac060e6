package job

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/internal/core"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/wait"
)

// Option configures a job: a policy field, or per-job data (Key, Clock,
// Rand). Options apply left to right; a later option wins. A nil Option is
// ignored. Options are values, safe to reuse and share.
type Option interface {
	apply(b *core.Builder)
}

// Policy is an immutable set of policy options, built once with NewPolicy and
// shared by any number of jobs and goroutines. A *Policy is an Option that
// sets exactly the fields that were set when it was built. The zero value is
// not usable; a nil *Policy is an ignored option.
type Policy core.Shared

// NewPolicy builds a Policy from policy options. Per-job options (Key, Clock,
// Rand) do not belong in a policy: NewPolicy panics on them.
func NewPolicy(opts ...Option) *Policy {
	var b core.Builder
	b.Reset(nil)
	for _, o := range opts {
		switch o.(type) {
		case nil:
			continue
		case keyOpt, clockOpt, randOpt:
			panic(fmt.Sprintf("job: NewPolicy: %T is per-job data, not policy: pass it beside the Policy", o))
		}
		o.apply(&b)
	}
	p := new(Policy)
	(*core.Shared)(p).P = b.Standalone()
	return p
}

func (p *Policy) apply(b *core.Builder) {
	if p != nil {
		b.Use((*core.Shared)(p))
	}
}

// String describes the policy's effective settings.
func (p *Policy) String() string {
	q := &(*core.Shared)(p).P
	return fmt.Sprintf("Policy{MaxAttempts: %d, MaxElapsed: %v, AttemptTimeout: %v, MaxWait: %v}",
		q.MaxAttempts, q.MaxElapsed, q.AttemptTimeout, q.MaxWait)
}

// resolve turns opts into a policy over base and the per-job data, without
// allocating when opts are at most one *Policy plus per-job options. It is
// core.Resolve with a type switch on job's own option types instead of
// core's installed classifier: on Do's success path (about 17 ns) the
// classifier's indirect call, or a struct result, costs a third more.
func resolve(base *core.Policy, opts []Option) (p *core.Policy, key string, clk clock.Clock, rnd *rand.Rand) {
	var shared *core.Shared
	slow := false
	for _, o := range opts {
		switch o := o.(type) {
		case nil:
		case *Policy:
			if shared != nil {
				slow = true
			} else if o != nil {
				shared = (*core.Shared)(o)
			}
		case keyOpt:
			key = string(o)
		case clockOpt:
			clk = o.c
		case randOpt:
			rnd = o.r
		default:
			slow = true
		}
	}
	if !slow {
		if shared == nil {
			return base, key, clk, rnd
		}
		return shared.Over(base), key, clk, rnd
	}
	b := new(core.Builder)
	b.Reset(base)
	for _, o := range opts {
		if o != nil {
			o.apply(b)
		}
	}
	return b.Policy(), key, clk, rnd
}

// inspect describes o for executors (core.Inspect).
func inspect(o any) core.OptInfo {
	switch o := o.(type) {
	case nil:
		return core.OptInfo{}
	case *Policy:
		if o == nil {
			return core.OptInfo{}
		}
		return core.OptInfo{Kind: core.KindShared, Shared: (*core.Shared)(o)}
	case keyOpt:
		return core.OptInfo{Kind: core.KindKey, Key: string(o)}
	case clockOpt:
		return core.OptInfo{Kind: core.KindClock, Clock: o.c}
	case randOpt:
		return core.OptInfo{Kind: core.KindRand, Rand: o.r}
	}
	return core.OptInfo{Kind: core.KindField}
}

type maxAttempts int

func (o maxAttempts) apply(b *core.Builder) {
	p := b.Edit()
	p.MaxAttempts, p.Set = int(o), p.Set|core.FMaxAttempts
}

// MaxAttempts sets the number of attempts in all, the first included; 0
// means unlimited. Default 10. It panics if n < 0.
func MaxAttempts(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("job: MaxAttempts must be >= 0 (0 means unlimited), got %d", n))
	}
	return maxAttempts(n)
}

// durationOpt sets one of the policy's durations.
type durationOpt struct {
	field core.Field
	d     time.Duration
}

func (o durationOpt) apply(b *core.Builder) {
	p := b.Edit()
	switch o.field {
	case core.FMaxElapsed:
		p.MaxElapsed = o.d
	case core.FAttemptTimeout:
		p.AttemptTimeout = o.d
	case core.FMaxWait:
		p.MaxWait = o.d
	}
	p.Set |= o.field
}

func duration(field core.Field, name string, d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("job: %s must be >= 0 (0 means none), got %v", name, d))
	}
	return durationOpt{field, d}
}

// MaxElapsed bounds the job's whole run, from submission (from the call, for
// Do) on the monotonic clock: it also bounds each attempt's context, and the
// job gives up with ErrDeadline rather than start an attempt after it. 0
// means no bound (the default). It panics if d < 0.
func MaxElapsed(d time.Duration) Option { return duration(core.FMaxElapsed, "MaxElapsed", d) }

// AttemptTimeout gives each attempt its own deadline; its expiry is an
// ordinary, retryable error. 0 means none (the default). It panics if d < 0.
func AttemptTimeout(d time.Duration) Option {
	return duration(core.FAttemptTimeout, "AttemptTimeout", d)
}

// MaxWait is the ceiling on any single wait. A jittered delay above it is cut
// to it; a Retry-After hint above it ends the job with ErrDeadline (a server
// saying "come back in a year" ends the job; it does not park it for a year).
// 0 means no ceiling. Default 1h. It panics if d < 0.
func MaxWait(d time.Duration) Option { return duration(core.FMaxWait, "MaxWait", d) }

type waitOpt struct{ s wait.Strategy }

func (o waitOpt) apply(b *core.Builder) {
	p := b.Edit()
	p.Wait, p.Set = o.s, p.Set|core.FWait
}

// Wait sets the delay strategy. Default wait.Exponential(100ms, 2, 30s). It
// panics if s is nil.
func Wait(s wait.Strategy) Option {
	if s == nil {
		panic("job: Wait strategy must not be nil")
	}
	return waitOpt{s}
}

type jitterOpt struct{ j jitter.Jitter }

func (o jitterOpt) apply(b *core.Builder) {
	p := b.Edit()
	p.Jitter, p.Set = o.j, p.Set|core.FJitter
}

// Jitter sets how a base delay becomes the delay waited: Jitter(jitter.Full)
// (the default), jitter.Equal, jitter.None, ... It is applied after the
// strategy's cap, never to the first attempt, and not on top of a strategy
// that randomises itself (wait.Decorrelated). It panics if j is nil.
func Jitter(j jitter.Jitter) Option {
	if j == nil {
		panic("job: Jitter must not be nil (use jitter.None)")
	}
	return jitterOpt{j}
}

type retryIf func(error) bool

func (o retryIf) apply(b *core.Builder) {
	p := b.Edit()
	p.RetryIf, p.Set = o, p.Set|core.FRetryIf
	if o == nil {
		p.RetryIf = nil
	}
}

// RetryIf sets which errors are retried: the job gives up with ErrPermanent
// when f returns false. It cannot override Permanent errors or the job's own
// cancellation. A panic in f counts as false; the panic is kept in the
// error. nil restores the default (every error is retried).
func RetryIf(f func(error) bool) Option { return retryIf(f) }

type resultOpt struct {
	f    any
	name string
}

func (o resultOpt) apply(b *core.Builder) {
	p := b.Edit()
	p.Result, p.ResultType, p.Set = o.f, o.name, p.Set|core.FResult
}

// RetryOnResult retries an attempt that returned no error but a value for
// which f returns true (Python backoff's on_predicate). On give-up the last
// value is returned together with the error. T must be the job's value type:
// with a job of another type, Do and Submit panic with a message naming both.
// A nil f removes the predicate.
func RetryOnResult[T any](f func(T) bool) Option {
	if f == nil {
		return resultOpt{}
	}
	return resultOpt{f, core.TypeName[T]()}
}

type hookOpt struct {
	which core.Field
	f     func(core.Event)
}

func (o hookOpt) apply(b *core.Builder) {
	p := b.Edit()
	switch o.which {
	case core.FOnRetry:
		p.OnRetry = o.f
	case core.FOnGiveUp:
		p.OnGiveUp = o.f
	case core.FOnSuccess:
		p.OnSuccess = o.f
	}
	p.Set |= o.which
}

func hook(which core.Field, f func(Event)) Option {
	if f == nil {
		return hookOpt{which: which}
	}
	return hookOpt{which, func(e core.Event) { f(Event(e)) }}
}

// OnRetry calls f when a retry has been decided, before the wait (Python
// backoff's on_backoff); Event.Wait is the wait and Event.Err the attempt's
// error. nil removes the hook.
func OnRetry(f func(Event)) Option { return hook(core.FOnRetry, f) }

// OnGiveUp calls f when the job gives up after an attempt; Event.Err is the
// job's *Error. nil removes the hook.
func OnGiveUp(f func(Event)) Option { return hook(core.FOnGiveUp, f) }

// OnSuccess calls f when an attempt succeeds. nil removes the hook.
func OnSuccess(f func(Event)) Option { return hook(core.FOnSuccess, f) }

type keyOpt string

// Per-job data is read by resolve and core.Resolve, not applied to a policy.
func (keyOpt) apply(*core.Builder) {}

// Key sets the job's key: per-job data, not policy. On a scheduler, jobs with
// the same key share per-key limits, Retry-After pauses and retry budget. ""
// means no key (the default).
func Key(k string) Option { return keyOpt(k) }

type clockOpt struct{ c clock.Clock }

func (clockOpt) apply(*core.Builder) {}

// Clock sets the clock Do and Wrap use (default: the real clock); pass a
// *clock.Mock in tests. A scheduler uses its own clock (scheduler.WithClock)
// and ignores this option. nil means the real clock.
func Clock(c clock.Clock) Option { return clockOpt{c} }

type randOpt struct{ r *rand.Rand }

func (randOpt) apply(*core.Builder) {}

// Rand sets the random source of the job's jitter and randomised strategies;
// with a seeded source a job's delays are reproducible. The source is used
// only by the job's own attempts, one at a time, but a source shared by jobs
// that run concurrently must be safe for concurrent use (rand.New of a
// rand.PCG is not). nil means math/rand/v2's global source (the default).
func Rand(r *rand.Rand) Option { return randOpt{r} }
