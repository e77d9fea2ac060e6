package scheduler

import (
	"context"
	"sync/atomic"

	"github.com/rebound-go/rebound/job"
)

// Task states, guarded by Scheduler.mu.
const (
	sNew       uint8 = iota // not admitted (yet)
	sQueued                 // in the fresh or ready queue
	sRunning                // on a worker: the attempt
	sJudging                // on a worker: the attempt has returned; verdict and hooks
	sParked                 // on the timer heap
	sGated                  // waiting for a slot of its key
	sPaced                  // waiting for its key's token: in its key's line, or its head on the timer heap
	sTokened                // its key's head, in the ready queue: a token is due; it takes it as it starts
	sDone                   // resolved (a queued tombstone is skipped)
	sAbandoned              // resolved while its attempt still ran
)

// task is one job as the scheduler sees it: its retry state, its context,
// and the scheduler's bookkeeping; the typed half (operation, value, future)
// is behind job. Every field but run is guarded by the scheduler's lock.
// run belongs to the worker that runs the job's attempt: the lock hands it
// over (see runOne). The struct is kept small: it is what a parked job costs.
type task struct {
	run   job.Run
	ctx   context.Context
	job   typed
	s     *Scheduler
	due   int64                // parked: when the retry is due
	watch *link                // the task's place on its context's watch list; nil if not on one
	next  atomic.Pointer[task] // the next task in the inbox
	index int32                // heap position; -1 when not parked
	state uint8
	stop  uint8 // why the scheduler stops the job, before it resolves (see stopOf)
	slot  bool  // holds a slot of its key
	keyed bool  // counted in its key's live jobs
}

// Why the scheduler stops a job (task.stop); the first cause wins.
const (
	stopNone     uint8 = iota
	stopCanceled       // Future.Cancel: context.Canceled
	stopClosed         // Shutdown or Close: job.ErrClosed
	stopCtx            // the job's context ended: its cause
)

// link is a task's place in a doubly linked watch list, allocated only for a
// task with a cancelable context.
type link struct {
	next, prev *task
}

// typed is the typed half of a task.
type typed interface {
	// attempt runs the attempt the worker has begun, its context derived
	// from parent (the job's, or an observer's), and, once it has
	// returned, takes the scheduler's lock; owned reports whether the task
	// is still this attempt's (not abandoned meanwhile). With owned, the
	// lock stays held and the value is kept.
	attempt(parent context.Context, a *job.Attempt) (o job.Outcome, owned bool)
	// resolve resolves the future (once); keep: the last attempt has
	// returned, so its value may be the result.
	resolve(err error, keep bool) bool
	begin()
	attempts() int // safe without mu
}

// typedTask is a task with its operation and future: one allocation per job.
type typedTask[T any] struct {
	task
	op job.Op[T]
	p  job.Promise[T] // holds the last attempt's value
}

// newTask returns a job, not yet admitted. It panics, in the caller's
// goroutine, when the policy's RetryOnResult is for another type than T.
func newTask[T any](s *Scheduler, ctx context.Context, op job.Op[T], cfg *job.Config) *typedTask[T] {
	job.CheckResult[T](cfg.Policy)
	t := &typedTask[T]{}
	t.init(s, ctx, op, cfg)
	return t
}

// init makes t a job of op, not yet admitted.
func (t *typedTask[T]) init(s *Scheduler, ctx context.Context, op job.Op[T], cfg *job.Config) {
	t.op = op
	t.job, t.s, t.ctx, t.index = t, s, ctx, -1
	t.p.OnCancel(t)
	t.run.Start(ctx, cfg.Policy, cfg.Key, s.envWith(cfg.Rand))
}

// doTask is a job of Do, with the context its first attempt has should
// that attempt run on the caller's goroutine: one allocation for both.
// Retries run on workers, each with a context of the worker's.
type doTask[T any] struct {
	typedTask[T]
	first job.Attempt
}

// newDoTask is newTask for Do.
func newDoTask[T any](s *Scheduler, ctx context.Context, op job.Op[T], cfg *job.Config) *doTask[T] {
	job.CheckResult[T](cfg.Policy)
	t := &doTask[T]{}
	t.init(s, ctx, op, cfg)
	return t
}

// Cancel is how the job's Future.Cancel reaches the scheduler.
func (t *typedTask[T]) Cancel() { t.s.cancelTask(&t.task) }

func (t *typedTask[T]) attempt(parent context.Context, a *job.Attempt) (job.Outcome, bool) {
	v, o := job.Call(parent, &t.run, a, t.op)
	s := t.s
	s.between.Add(1)
	s.mu.Lock()
	if t.state == sAbandoned {
		s.between.Add(-1) // its worker leaves
		s.mu.Unlock()
		return o, false
	}
	t.p.Hold(v) // under the lock: the job is still this attempt's
	return o, true
}

func (t *typedTask[T]) begin() { t.p.Begin() }

func (t *typedTask[T]) attempts() int { return t.p.Future().Attempts() }

func (t *typedTask[T]) resolve(err error, keep bool) bool {
	if !keep || (err != nil && !t.run.Policy().RetriesOnResult()) {
		var zero T
		t.p.Hold(zero)
	}
	if !t.p.Resolve(err) {
		return false
	}
	if d, ok := t.op.(interface{ Done(T, error) }); ok {
		d.Done(t.p.Value(), err)
	}
	return true
}

// setStop records why the scheduler stops t; the first cause wins.
func (t *task) setStop(why uint8) {
	if t.stop == stopNone {
		t.stop = why
	}
}
