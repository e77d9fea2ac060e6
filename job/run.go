package job

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/benbjohnson/clock"
)

// Env is what an executor's runs share: the clock, the random source, and
// the epoch that a run's times count from. It is read-only once a run uses
// it; one Env serves any number of runs.
type Env struct {
	Clock clock.Clock // nil: the real clock
	Rand  *rand.Rand  // nil: math/rand/v2's global source
	Epoch time.Time   // any fixed time within ~290 years of Clock's; zero: the process start
}

// now returns the env's time as an offset from its epoch.
func (e *Env) now() int64 { return int64(e.clock().Since(e.epoch())) }

// epoch returns the env's epoch. The zero time is not one: now-year 1
// overflows a Duration, which would saturate every offset.
func (e *Env) epoch() time.Time {
	if e.Epoch.IsZero() {
		return epoch
	}
	return e.Epoch
}

func (e *Env) clock() clock.Clock {
	if e.Clock == nil {
		return realClock
	}
	return e.Clock
}

// The times a Run keeps, as offsets from its Env's epoch.
const (
	unset      = math.MinInt64 // start not read yet
	noDeadline = math.MaxInt64
)

// Run is the retry state of one job: the state machine that Do, package
// scheduler and any other executor drive, one attempt at a time. It is the
// stepping API: an executor that runs jobs on its own queue (SQS, Kafka, a
// database table) keeps a Run per job, and after each attempt asks it what
// follows:
//
//	var r job.Run
//	r.Start(ctx, policy, key, env)        // or Resume, for a job picked up again
//	for {
//		r.Begin()                          // count the attempt
//		v, o := job.Call(ctx, &r, nil, op) // run it: context, panics, RetryOnResult
//		d := r.Judge(o, nil)               // succeed, retry after d.Wait, or give up
//		...
//	}
//
// Only one goroutine may use a Run at a time (attempts of one job never
// overlap). The zero value is not usable: call Start or Resume first.
type Run struct {
	policy   *Policy
	env      *Env
	key      string
	start    int64 // unset until the clock was first read
	deadline int64 // noDeadline, or the earlier of start+MaxElapsed and the ctx's deadline
	attempts int
	prev     time.Duration
	last     error
}

// Start prepares r for a job of policy p submitted (or called) now, under
// ctx. It reads the clock only when the policy needs time or ctx has a
// deadline, so a job whose policy needs none reads no clock on its success
// path (its Elapsed then counts from the first failure).
func (r *Run) Start(ctx context.Context, p *Policy, key string, env *Env) {
	*r = Run{policy: p, env: env, key: key, start: unset, deadline: noDeadline}
	dl, hasDL := ctx.Deadline()
	if !p.needsTime && !hasDL {
		return
	}
	r.start = env.now()
	if p.maxElapsed > 0 {
		r.deadline = satAdd(r.start, int64(p.maxElapsed))
	}
	if hasDL {
		if d := int64(dl.Sub(env.epoch())); d < r.deadline {
			r.deadline = d
		}
	}
}

// Resume prepares r for a job of policy p that started at start and has
// made attempts attempts already, the last base delay being prev and the
// last attempt's error last: a job picked up again by another process or
// delivery. Its deadline is start+MaxElapsed; a delivery's own deadline is
// the executor's business. A job that then gives up before any attempt of
// its own (Late, or its attempts used up) reports last in its *Error.
func (r *Run) Resume(p *Policy, key string, env *Env, start time.Time, attempts int, prev time.Duration, last error) {
	*r = Run{policy: p, env: env, key: key, start: int64(start.Sub(env.epoch())), deadline: noDeadline}
	if p.maxElapsed > 0 {
		r.deadline = satAdd(r.start, int64(p.maxElapsed))
	}
	r.attempts, r.prev, r.last = max(attempts, 0), max(prev, 0), last
}

// satAdd returns a+b, saturating at math.MaxInt64 instead of wrapping.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Policy returns the run's policy.
func (r *Run) Policy() *Policy { return r.policy }

// Key returns the job's key.
func (r *Run) Key() string { return r.key }

// Env returns the run's environment.
func (r *Run) Env() *Env { return r.env }

// Attempts returns the number of attempts begun.
func (r *Run) Attempts() int { return r.attempts }

// Prev returns the base delay of the last retry (what Decorrelated grows
// from), for an executor that keeps a run's state between deliveries.
func (r *Run) Prev() time.Duration { return r.prev }

// Last returns the last attempt's error (nil after a success or before any
// attempt).
func (r *Run) Last() error { return r.last }

// Begin counts a new attempt and returns its number (1-based, saturating).
func (r *Run) Begin() int {
	if r.attempts < math.MaxInt {
		r.attempts++
	}
	return r.attempts
}

// Deadline returns the job's deadline on its Env's clock, if it has one.
func (r *Run) Deadline() (time.Time, bool) {
	if r.deadline == noDeadline {
		return time.Time{}, false
	}
	return r.env.epoch().Add(time.Duration(r.deadline)), true
}

// Late reports whether the job's deadline has passed (reading the clock only
// when there is a deadline).
func (r *Run) Late() bool {
	return r.deadline != noDeadline && r.env.now() >= r.deadline
}

// AttemptTimeout returns how long an attempt starting now may run: the
// earlier of the job's deadline and the policy's AttemptTimeout; ok is false
// when it is unbounded. It reads the clock only when there is a bound.
func (r *Run) AttemptTimeout() (d time.Duration, ok bool) {
	at := r.policy.attemptTimeout
	if r.deadline == noDeadline && at <= 0 {
		return 0, false
	}
	d = math.MaxInt64
	if r.deadline != noDeadline {
		d = time.Duration(r.deadline - r.env.now())
	}
	if at > 0 && at < d {
		d = at
	}
	return d, true
}

// boundedByCtx reports whether ctx's own deadline ends an attempt starting
// now as soon as the run's bounds would (the run's deadline is ctx's, and
// the policy's AttemptTimeout is not shorter): an attempt whose context
// derives from ctx then needs no timer of its own, and ends with the same
// context.DeadlineExceeded. Never under a mock clock, whose times are not
// ctx's.
func (r *Run) boundedByCtx(ctx context.Context) bool {
	if r.deadline == noDeadline {
		return false
	}
	if _, mock := r.env.clock().(*clock.Mock); mock {
		return false
	}
	dl, ok := ctx.Deadline()
	if !ok || int64(dl.Sub(r.env.epoch())) > r.deadline {
		return false
	}
	at := r.policy.attemptTimeout
	return at <= 0 || satAdd(r.env.now(), int64(at)) >= r.deadline
}

// Elapsed returns the time since the start (zero if the clock was never
// read).
func (r *Run) Elapsed() time.Duration {
	if r.start == unset {
		return 0
	}
	return time.Duration(r.env.now() - r.start)
}

// Outcome is what one attempt came to, as Call reports it.
type Outcome struct {
	Err       error         // the attempt's error (a panic: a permanent *PanicError)
	Hint      time.Duration // the error's Retry-After hint; -1: none
	Rejected  bool          // no error, but RetryOnResult rejected the value
	Throttled bool          // the error is a throttle: it has a hint, or is marked with Throttled
	perm      bool          // Err is permanent (or one of its own methods panicked: Err is that panic)
}

// classified returns the outcome of an attempt that returned err (not nil).
func classified(err error) Outcome {
	hint, perm, thr, bad := classify(err)
	if bad != nil {
		err = bad // err's own methods panic: keep nothing that walks into it
	}
	return Outcome{Err: err, Hint: hint, Throttled: thr, perm: perm}
}

// OutcomeOf returns the outcome of an attempt that returned err (and a value
// RetryOnResult accepted), for an executor that runs attempts without Call.
// It recovers a panic in err's own methods as Call does.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Outcome{Hint: -1}
	}
	return classified(err)
}

// Failed reports whether the attempt failed (an error, or a rejected value).
func (o Outcome) Failed() bool { return o.Err != nil || o.Rejected }

// Decision is what follows an attempt: success (Reason nil, Retry false), a
// retry after Wait, or giving up for Reason.
type Decision struct {
	Retry  bool
	Wait   time.Duration // Retry: the wait before the next attempt
	Reason error         // giving up: ErrExhausted, ErrDeadline, ErrPermanent, or the stop cause
	Hint   time.Duration // the attempt's Retry-After hint; -1: none (a hint pauses a key even on give-up)
}

// Succeeded reports whether the decision is success.
func (d Decision) Succeeded() bool { return !d.Retry && d.Reason == nil }

// Judge decides what follows an attempt with outcome o. stop is non-nil when
// the job's own context is done or the executor stopped the job (canceled,
// shut down): that is final, whatever o is, and becomes the Reason. Judge
// runs the policy's RetryIf, strategy and jitter (user code: call it outside
// any lock), never a hook. A retry's Wait counts from now.
func (r *Run) Judge(o Outcome, stop error) Decision {
	err := o.Err
	if err == nil && !o.Rejected {
		r.last = nil
		return Decision{Hint: -1}
	}
	if err == nil {
		err = errRejected
	}
	r.last = err
	p := r.policy
	if r.start == unset {
		// The policy needs no time, so the clock was not read at the start:
		// Elapsed counts from the first failure.
		r.start = r.env.now()
	}
	hint := o.Hint
	giveUp := func(reason error) Decision { return Decision{Reason: reason, Hint: hint} }
	switch {
	case stop != nil:
		return giveUp(stop)
	case o.perm:
		return giveUp(ErrPermanent)
	case err != errRejected && p.retryIf != nil && !r.retryIf(err):
		return giveUp(ErrPermanent)
	}
	if r.Late() {
		return giveUp(ErrDeadline) // the attempt ran into the deadline
	}
	n := r.attempts
	if p.maxAttempts > 0 && n >= p.maxAttempts {
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
	if p.maxWait > 0 && d > p.maxWait {
		d = p.maxWait
	}
	if hint >= 0 {
		if p.maxWait > 0 && hint > p.maxWait {
			return giveUp(ErrDeadline)
		}
		d = max(d, hint)
	}
	if r.deadline != noDeadline && satAdd(r.env.now(), int64(d)) >= r.deadline {
		return giveUp(ErrDeadline)
	}
	return Decision{Retry: true, Wait: d, Hint: hint}
}

// retryIf calls the policy's RetryIf; a panic in it means "do not retry" and
// is kept in the job's last error.
func (r *Run) retryIf(err error) (retry bool) {
	defer func() {
		if v := recover(); v != nil {
			retry = false
			r.last = fmt.Errorf("%w (RetryIf panicked: %w)", err, &PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	return r.policy.retryIf(err)
}

// delay asks the strategy for the base delay before retry n. A panicking
// strategy ends the job (no more delays, the panic kept in the last error);
// a negative delay counts as 0.
func (r *Run) delay(n int) (d time.Duration, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			d, ok = 0, false
			r.last = fmt.Errorf("%w (wait strategy panicked: %w)", r.last, &PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	d, ok = r.policy.wait.Delay(n, r.prev, r.env.Rand)
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
	if d = r.policy.jitter.Apply(base, r.env.Rand); d < 0 {
		d = 0
	}
	return d
}

// Fail returns the job's final error for reason: a *Error with the last
// attempt's error, the attempts and the elapsed time.
func (r *Run) Fail(reason error) error {
	return &Error{Reason: reason, Last: r.last, Attempts: r.attempts, Elapsed: r.Elapsed()}
}

// Retrying fires OnRetry for a retry after wait (the wait that really
// follows). Call it once the executor has committed to the retry.
func (r *Run) Retrying(wait time.Duration) {
	if h := r.policy.onRetry; h != nil {
		callHook(h, Event{Attempt: r.attempts, Elapsed: r.Elapsed(), Wait: wait, Err: r.last, Key: r.key})
	}
}

// Succeeded fires OnSuccess.
func (r *Run) Succeeded() {
	if h := r.policy.onSuccess; h != nil {
		callHook(h, Event{Attempt: r.attempts, Elapsed: r.Elapsed(), Key: r.key})
	}
}

// GaveUp fires OnGiveUp with the job's final error.
func (r *Run) GaveUp(final error) {
	if h := r.policy.onGiveUp; h != nil {
		callHook(h, Event{Attempt: r.attempts, Elapsed: r.Elapsed(), Err: final, Key: r.key})
	}
}

// callHook runs a hook; a panic in it is recovered, and the job's outcome does
// not change.
func callHook(h func(Event), ev Event) {
	defer func() { _ = recover() }()
	h(ev)
}

// cause returns the cause of ctx's end, or nil while ctx is alive.
func cause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}
