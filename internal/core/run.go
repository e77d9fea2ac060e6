package core

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/benbjohnson/clock"
)

// Verdict is what the state machine decides after an attempt.
type Verdict uint8

// The verdicts.
const (
	Succeed Verdict = iota // the attempt succeeded: resolve with its value
	Retry                  // park for the wait, then attempt again
	GiveUp                 // resolve with the reason
)

// Decision is the state machine's answer after an attempt.
type Decision struct {
	Verdict Verdict
	Wait    time.Duration // Retry: the wait before the next attempt
	Reason  error         // GiveUp: why
	Hint    time.Duration // the attempt's Retry-After hint; -1: none
}

// Env is what runs share: the clock, the random source, and the epoch that
// a run's times count from. Executors share one Env among all their runs.
type Env struct {
	// Cancel is how a Task's Cancel reaches the executor (nil for job.Do).
	Cancel func(*Task)
	Clock  clock.Clock
	Rand   *rand.Rand // nil: math/rand/v2's global source
	Epoch  time.Time  // any fixed time; runs store times as offsets from it
}

// now returns the env's time as an offset from its epoch (monotonic with
// the real clock).
func (e *Env) now() int64 { return int64(e.Clock.Since(e.Epoch)) }

// Epoch is the default epoch: the process start, on the monotonic clock.
var Epoch = time.Now()

// The times a Run keeps, as offsets from its Env's epoch.
const (
	unset      = math.MinInt64 // start not read yet
	noDeadline = math.MaxInt64
)

// Run is one job's retry state. The executor that runs the job's attempts
// owns it: only one goroutine uses it at a time (attempts of one job never
// overlap).
type Run struct {
	Policy   *Policy
	Env      *Env
	Key      string
	start    int64 // unset until the clock was first read
	deadline int64 // noDeadline, or the earlier of start+MaxElapsed and the ctx's deadline
	attempts int
	prev     time.Duration
	Last     error
}

// Init prepares r for a job submitted (or called, for job.Do) now. It reads
// the clock only when the policy needs time or ctx has a deadline.
func (r *Run) Init(ctx context.Context, p *Policy, key string, env *Env) {
	r.Policy, r.Key, r.Env = p, key, env
	r.start, r.deadline = unset, noDeadline
	dl, hasDL := ctx.Deadline()
	if !p.needsTime && !hasDL {
		return
	}
	r.start = env.now()
	if p.MaxElapsed > 0 {
		r.deadline = SatAdd(r.start, int64(p.MaxElapsed))
	}
	if hasDL {
		if d := int64(dl.Sub(env.Epoch)); d < r.deadline {
			r.deadline = d
		}
	}
}

// Resume prepares r for a job that started at start and has made attempts
// attempts already, the last base delay being prev: a durable task picked up
// again by another delivery. Its deadline is start+MaxElapsed; a delivery's
// own deadline is the executor's business, not the job's.
func (r *Run) Resume(p *Policy, key string, env *Env, start time.Time, attempts int, prev time.Duration) {
	r.Policy, r.Key, r.Env = p, key, env
	r.start, r.deadline = int64(start.Sub(env.Epoch)), noDeadline
	if p.MaxElapsed > 0 {
		r.deadline = SatAdd(r.start, int64(p.MaxElapsed))
	}
	r.attempts, r.prev = max(attempts, 0), max(prev, 0)
}

// Prev returns the base delay of the last retry (what Decorrelated grows
// from), for an executor that keeps a run's state between deliveries.
func (r *Run) Prev() time.Duration { return r.prev }

// SatAdd returns a+b, saturating at math.MaxInt64 instead of wrapping.
func SatAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Attempts returns the number of attempts started. Only the run's owner may
// call it; others use Task.Attempts.
func (r *Run) Attempts() int { return r.attempts }

// Begin counts a new attempt and returns its number (1-based).
func (r *Run) Begin() int {
	if r.attempts < math.MaxInt {
		r.attempts++
	}
	return r.attempts
}

// DeadlineAt returns the job's deadline as an offset from its Env's epoch.
func (r *Run) DeadlineAt() (int64, bool) { return r.deadline, r.deadline != noDeadline }

// Late reports whether the job's deadline has passed (reading the clock only
// when there is a deadline).
func (r *Run) Late() bool {
	return r.deadline != noDeadline && r.Env.now() >= r.deadline
}

// AttemptTimeout returns how long an attempt starting now may run: the
// earlier of the job's deadline and AttemptTimeout; ok is false when it is
// unbounded. It reads the clock only when there is a bound.
func (r *Run) AttemptTimeout() (d time.Duration, ok bool) {
	at := r.Policy.AttemptTimeout
	if r.deadline == noDeadline && at <= 0 {
		return 0, false
	}
	d = math.MaxInt64
	if r.deadline != noDeadline {
		d = time.Duration(r.deadline - r.Env.now())
	}
	if at > 0 && at < d {
		d = at
	}
	return d, true
}

// Elapsed returns the time since the start (zero if the clock was never read).
func (r *Run) Elapsed() time.Duration {
	if r.start == unset {
		return 0
	}
	return time.Duration(r.Env.now() - r.start)
}

// StartKnown reports whether the start has been read, so that Elapsed reads
// no field another goroutine may be writing.
func (r *Run) StartKnown() bool { return r.Policy.needsTime }

// Judge decides what follows an attempt that returned err (retryValue: the
// value was rejected by RetryOnResult). stop is non-nil when the job's own
// context is done or the job was canceled: that is final, whatever err is.
//
// Judge reads err's hint and permanence itself (Classify); an executor that
// needed them as soon as the attempt returned passes them to JudgeClass.
func (r *Run) Judge(err error, retryValue bool, stop error) Decision {
	return r.JudgeClass(err, retryValue, stop, Classify(err))
}

// JudgeClass is Judge with err's class already read.
func (r *Run) JudgeClass(err error, retryValue bool, stop error, c Class) Decision {
	if err == nil && !retryValue {
		r.Last = nil
		return Decision{Verdict: Succeed, Hint: -1}
	}
	if err == nil {
		err = errRejected
	}
	r.Last = err
	p := r.Policy
	if r.start == unset {
		// The policy needs no time, so the clock was not read at the start:
		// Elapsed counts from the first failure.
		r.start = r.Env.now()
	}
	// A hint pauses the job's key even when the job itself gives up.
	hint, hinted := c.Hint, c.Hint >= 0
	giveUp := func(reason error) Decision { return Decision{Verdict: GiveUp, Reason: reason, Hint: hint} }
	if c.Bad != nil {
		r.Last = c.Bad // err's own methods panic: keep nothing that walks into it
	}
	switch {
	case stop != nil:
		return giveUp(stop)
	case c.Bad != nil:
		return giveUp(ErrPermanent)
	case c.Permanent:
		return giveUp(ErrPermanent)
	case err != errRejected && p.RetryIf != nil && !r.retryIf(err):
		return giveUp(ErrPermanent)
	}
	if r.Late() {
		return giveUp(ErrDeadline) // the attempt ran into the deadline
	}
	n := r.Attempts()
	if p.MaxAttempts > 0 && n >= p.MaxAttempts {
		return giveUp(ErrExhausted)
	}
	base, ok := r.delay(n)
	if !ok {
		return giveUp(ErrExhausted)
	}
	r.prev = base
	d := base
	if !p.selfJittered {
		d = r.jitter(base)
	}
	if p.MaxWait > 0 && d > p.MaxWait {
		d = p.MaxWait
	}
	if hinted {
		if p.MaxWait > 0 && hint > p.MaxWait {
			return giveUp(ErrDeadline)
		}
		d = max(d, hint)
	}
	if r.deadline != noDeadline && SatAdd(r.Env.now(), int64(d)) >= r.deadline {
		return giveUp(ErrDeadline)
	}
	return Decision{Verdict: Retry, Wait: d, Hint: hint}
}

// retryIf calls the policy's RetryIf; a panic in it means "do not retry" and
// is kept in the job's last error.
func (r *Run) retryIf(err error) (retry bool) {
	defer func() {
		if v := recover(); v != nil {
			retry = false
			r.Last = fmt.Errorf("%w (RetryIf panicked: %w)", err, MakePanic(v, debug.Stack()))
		}
	}()
	return r.Policy.RetryIf(err)
}

// delay asks the strategy for the base delay before retry n. A panicking
// strategy ends the job (no more delays, the panic kept in the last error);
// a negative delay counts as 0.
func (r *Run) delay(n int) (d time.Duration, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			d, ok = 0, false
			r.Last = fmt.Errorf("%w (wait strategy panicked: %w)", r.Last, MakePanic(v, debug.Stack()))
		}
	}()
	d, ok = r.Policy.Wait.Delay(n, r.prev, r.Env.Rand)
	return max(d, 0), ok
}

// jitter applies the policy's jitter; a panicking or negative jitter counts
// as no jitter.
func (r *Run) jitter(base time.Duration) (d time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			d = base
		}
	}()
	if d = r.Policy.Jitter.Apply(base, r.Env.Rand); d < 0 {
		d = 0
	}
	return d
}

// Fail builds the job's final error for reason.
func (r *Run) Fail(reason error) error {
	return MakeError(reason, r.Last, r.Attempts(), r.Elapsed())
}

// Retrying fires OnRetry for a retry after wait; call it once the executor has
// committed to the retry.
func (r *Run) Retrying(wait time.Duration) {
	if h := r.Policy.OnRetry; h != nil {
		hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Wait: wait, Err: r.Last, Key: r.Key})
	}
}

// Succeeded fires OnSuccess.
func (r *Run) Succeeded() {
	if h := r.Policy.OnSuccess; h != nil {
		hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Key: r.Key})
	}
}

// GaveUp fires OnGiveUp with the job's final error.
func (r *Run) GaveUp(final error) {
	if h := r.Policy.OnGiveUp; h != nil {
		hook(h, Event{Attempt: r.Attempts(), Elapsed: r.Elapsed(), Err: final, Key: r.Key})
	}
}

// hook runs a hook; a panic in it is recovered, and the job's outcome does
// not change.
func hook(h func(Event), ev Event) {
	defer func() { _ = recover() }()
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
