package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// Verdict is what the state machine decides after an attempt.
type Verdict uint8

const (
	Succeed Verdict = iota // the attempt succeeded: resolve with its value
	Retry                  // park for the wait, then attempt again
	GiveUp                 // resolve with the reason
)

// Run is one job's retry state. The executor that runs the job's attempts
// owns it: only one goroutine uses it at a time (attempts of one job never
// overlap). Attempts may be read concurrently.
type Run struct {
	Policy   *Policy
	Key      string
	Clock    clock.Clock
	Rand     *rand.Rand // nil: math/rand/v2's global source
	start    time.Time  // zero until the clock was first read
	deadline time.Time  // zero: none; the earlier of start+MaxElapsed and the ctx's deadline
	attempts atomic.Int64
	prev     time.Duration
	Last     error
	Hint     time.Duration // the last attempt's Retry-After hint, if any
	HasHint  bool
	// HookPanic is the last panic recovered from a hook, for the executor
	// to report; the job's outcome ignores it.
	HookPanic error
}

// Init prepares r for a job submitted (or called, for job.Do) now. It reads
// the clock only when the policy needs time.
func (r *Run) Init(ctx context.Context, p *Policy, key string, clk clock.Clock, rnd *rand.Rand) {
	r.Policy, r.Key, r.Clock, r.Rand = p, key, clk, rnd
	if p.needsTime {
		r.start = clk.Now()
		if p.MaxElapsed > 0 {
			r.deadline = r.start.Add(p.MaxElapsed)
		}
	}
	if dl, ok := ctx.Deadline(); ok && (r.deadline.IsZero() || dl.Before(r.deadline)) {
		r.deadline = dl
	}
}

// Attempts returns the number of attempts started.
func (r *Run) Attempts() int { return int(r.attempts.Load()) }

// Begin counts a new attempt and returns its number (1-based).
func (r *Run) Begin() int { return int(r.attempts.Add(1)) }

// Deadline returns the job's deadline, if any.
func (r *Run) Deadline() (time.Time, bool) { return r.deadline, !r.deadline.IsZero() }

// AttemptDeadline returns the deadline of an attempt starting now: the
// earlier of the job's deadline and now+AttemptTimeout. It reads the clock
// only when the policy has an AttemptTimeout.
func (r *Run) AttemptDeadline() (time.Time, bool) {
	dl := r.deadline
	if t := r.Policy.AttemptTimeout; t > 0 {
		if end := r.Clock.Now().Add(t); dl.IsZero() || end.Before(dl) {
			dl = end
		}
	}
	return dl, !dl.IsZero()
}

// Elapsed returns the time since the start (zero if the clock was never read).
func (r *Run) Elapsed() time.Duration {
	if r.start.IsZero() {
		return 0
	}
	return r.Clock.Since(r.start)
}

// Judge decides what follows an attempt that returned err (retryValue: the
// value was rejected by RetryOnResult). stop is non-nil when the job's own
// context is done or the job was cancelled: that is final, whatever err is.
// For Retry it returns the wait; for GiveUp the reason.
func (r *Run) Judge(err error, retryValue bool, stop error) (Verdict, time.Duration, error) {
	r.HasHint = false
	if err == nil && !retryValue {
		r.Last = nil
		return Succeed, 0, nil
	}
	if err == nil {
		err = errRejected
	}
	r.Last = err
	p := r.Policy
	if r.start.IsZero() {
		// The policy needs no time, so the clock was not read at the start:
		// Elapsed counts from the first failure.
		r.start = r.Clock.Now()
	}
	switch {
	case stop != nil:
		return GiveUp, 0, stop
	case IsPermanent(err):
		return GiveUp, 0, ErrPermanent
	case err != errRejected && p.RetryIf != nil && !r.retryIf(err):
		return GiveUp, 0, ErrPermanent
	}
	n := r.Attempts()
	if p.MaxAttempts > 0 && n >= p.MaxAttempts {
		return GiveUp, 0, ErrExhausted
	}
	base, ok := r.delay(n)
	if !ok {
		return GiveUp, 0, ErrExhausted
	}
	r.prev = base
	d := base
	if !p.selfJittered {
		d = p.Jitter.Apply(base, r.Rand)
	}
	if d < 0 {
		d = 0
	}
	if p.MaxWait > 0 && d > p.MaxWait {
		d = p.MaxWait
	}
	if h, ok := Hint(err); ok {
		r.Hint, r.HasHint = h, true
		if p.MaxWait > 0 && h > p.MaxWait {
			return GiveUp, 0, ErrDeadline
		}
		d = max(d, h)
	}
	if !r.deadline.IsZero() {
		if now := r.Clock.Now(); !now.Add(d).Before(r.deadline) {
			return GiveUp, 0, ErrDeadline
		}
	}
	return Retry, d, nil
}

// retryIf calls the policy's RetryIf; a panic in it means "do not retry" and
// is kept as the job's last error.
func (r *Run) retryIf(err error) (retry bool) {
	defer func() {
		if v := recover(); v != nil {
			retry = false
			r.Last = fmt.Errorf("%w (RetryIf panicked: %w)", err, MakePanic(v, debug.Stack()))
		}
	}()
	return r.Policy.RetryIf(err)
}

// delay asks the strategy for the base delay before retry n; a panicking or
// negative strategy is contained: a panic ends the job (no more delays), a
// negative delay counts as 0.
func (r *Run) delay(n int) (d time.Duration, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			d, ok = 0, false
			r.Last = fmt.Errorf("%w (wait strategy panicked: %w)", r.Last, MakePanic(v, debug.Stack()))
		}
	}()
	d, ok = r.Policy.Wait.Delay(n, r.prev, r.Rand)
	if d < 0 {
		d = 0
	}
	return d, ok
}

// Fail builds the job's final error for reason.
func (r *Run) Fail(reason error) error {
	return MakeError(reason, r.Last, r.Attempts(), r.Elapsed())
}

// Retrying fires OnRetry for a retry after wait; call it once the executor has
// committed to the retry.
func (r *Run) Retrying(wait time.Duration) {
	if h := r.Policy.OnRetry; h != nil {
		r.hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Wait: wait, Err: r.Last, Key: r.Key})
	}
}

// Succeeded fires OnSuccess.
func (r *Run) Succeeded() {
	if h := r.Policy.OnSuccess; h != nil {
		r.hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Key: r.Key})
	}
}

// GaveUp fires OnGiveUp with the job's final error.
func (r *Run) GaveUp(final error) {
	if h := r.Policy.OnGiveUp; h != nil {
		r.hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Err: final, Key: r.Key})
	}
}

// hook runs a hook; a panic in it is recovered and kept in HookPanic (the
// job's outcome does not change).
func (r *Run) hook(h func(Event), ev Event) {
	defer func() {
		if v := recover(); v != nil {
			r.HookPanic = MakePanic(v, debug.Stack())
		}
	}()
	h(ev)
}

// Recovered turns a panic recovered from an operation into the job's
// permanent panic error.
func Recovered(v any) error { return Permanent(MakePanic(v, debug.Stack())) }

// Cause returns the cause of ctx's end, or nil while ctx is alive.
func Cause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}
