package job

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/wait"
)

// Option configures a job: a policy field, or per-job data (Key, Clock,
// Rand). Options apply left to right; a later option wins. A nil Option is
// ignored. Options are values, safe to reuse and share.
type Option interface {
	apply(b *builder)
}

type maxAttempts int

func (o maxAttempts) apply(b *builder) {
	p := b.edit()
	p.maxAttempts, p.set = int(o), p.set|fMaxAttempts
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
	field field
	d     time.Duration
}

func (o durationOpt) apply(b *builder) {
	p := b.edit()
	switch o.field {
	case fMaxElapsed:
		p.maxElapsed = o.d
	case fAttemptTimeout:
		p.attemptTimeout = o.d
	case fMaxWait:
		p.maxWait = o.d
	}
	p.set |= o.field
}

func duration(f field, name string, d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("job: %s must be >= 0 (0 means none), got %v", name, d))
	}
	return durationOpt{f, d}
}

// MaxElapsed bounds the job's whole run, from submission (from the call, for
// Do) on the monotonic clock: it also bounds each attempt's context, and the
// job gives up with ErrDeadline rather than start an attempt after it. 0
// means no bound (the default). It panics if d < 0.
func MaxElapsed(d time.Duration) Option { return duration(fMaxElapsed, "MaxElapsed", d) }

// AttemptTimeout gives each attempt its own deadline; its expiry is an
// ordinary, retryable error. 0 means none (the default). It panics if d < 0.
func AttemptTimeout(d time.Duration) Option {
	return duration(fAttemptTimeout, "AttemptTimeout", d)
}

// MaxWait is the ceiling on any single wait. A jittered delay above it is cut
// to it; a Retry-After hint above it ends the job with ErrDeadline (a server
// saying "come back in a year" ends the job; it does not park it for a year).
// 0 means no ceiling. Default 1h. It panics if d < 0.
func MaxWait(d time.Duration) Option { return duration(fMaxWait, "MaxWait", d) }

type waitOpt struct{ s wait.Strategy }

func (o waitOpt) apply(b *builder) {
	p := b.edit()
	p.wait, p.set = o.s, p.set|fWait
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

func (o jitterOpt) apply(b *builder) {
	p := b.edit()
	p.jitter, p.set = o.j, p.set|fJitter
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

func (o retryIf) apply(b *builder) {
	p := b.edit()
	p.retryIf, p.set = o, p.set|fRetryIf
	if o == nil {
		p.retryIf = nil
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

func (o resultOpt) apply(b *builder) {
	p := b.edit()
	p.result, p.resultType, p.set = o.f, o.name, p.set|fResult
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
	return resultOpt{f, typeName[T]()}
}

type hookOpt struct {
	which field
	f     func(Event)
}

func (o hookOpt) apply(b *builder) {
	p := b.edit()
	switch o.which {
	case fOnRetry:
		p.onRetry = o.f
	case fOnGiveUp:
		p.onGiveUp = o.f
	case fOnSuccess:
		p.onSuccess = o.f
	}
	p.set |= o.which
}

func hook(which field, f func(Event)) Option { return hookOpt{which, f} }

// OnRetry calls f when a retry has been decided, before the wait (Python
// backoff's on_backoff); Event.Wait is the wait and Event.Err the attempt's
// error. nil removes the hook.
func OnRetry(f func(Event)) Option { return hook(fOnRetry, f) }

// OnGiveUp calls f when the job gives up after an attempt; Event.Err is the
// job's *Error. nil removes the hook.
func OnGiveUp(f func(Event)) Option { return hook(fOnGiveUp, f) }

// OnSuccess calls f when an attempt succeeds. nil removes the hook.
func OnSuccess(f func(Event)) Option { return hook(fOnSuccess, f) }

type keyOpt string

// Per-job data is read by resolve, not applied to a policy.
func (keyOpt) apply(*builder) {}

// Key sets the job's key: per-job data, not policy. On a scheduler, jobs with
// the same key share per-key limits, Retry-After pauses and retry budget. ""
// means no key (the default).
func Key(k string) Option { return keyOpt(k) }

type clockOpt struct{ c clock.Clock }

func (clockOpt) apply(*builder) {}

// Clock sets the clock Do and Wrap use (default: the real clock); pass a
// *clock.Mock in tests. A scheduler uses its own clock (scheduler.WithClock)
// and ignores this option. nil means the real clock.
func Clock(c clock.Clock) Option { return clockOpt{c} }

type randOpt struct{ r *rand.Rand }

func (randOpt) apply(*builder) {}

// Rand sets the random source of the job's jitter and randomised strategies;
// with a seeded source a job's delays are reproducible. The source is used
// only by the job's own attempts, one at a time, but a source shared by jobs
// that run concurrently must be safe for concurrent use (rand.New of a
// rand.PCG is not). nil means math/rand/v2's global source (the default).
func Rand(r *rand.Rand) Option { return randOpt{r} }
