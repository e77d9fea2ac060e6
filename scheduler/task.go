package scheduler

import (
	"context"

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
	stop  error        // why the scheduler stops the job (cancel, close); before it resolves
	cur   *job.Attempt // the running attempt's context
	first job.Attempt  // the first attempt's context: a job that succeeds at once allocates none
	due   int64        // parked: when the retry is due
	watch *link        // the task's place on its context's watch list; nil if not on one
	index int32        // heap position; -1 when not parked
	state uint8
	slot  bool // holds a slot of its key
	keyed bool // counted in its key's live jobs
}

// link is a task's place in a doubly linked watch list, allocated only for a
// task with a cancelable context.
type link struct {
	next, prev *task
}

// typed is the typed half of a task.
type typed interface {
	// attempt runs the attempt the worker has begun and, once it has
	// returned, takes the scheduler's lock; owned reports whether the task
	// is still this attempt's (not abandoned meanwhile). With owned, the
	// lock stays held and the value is kept.
	attempt() (o job.Outcome, owned bool)
	// resolve resolves the future (once); keep: the last attempt has
	// returned, so its value may be the result.
	resolve(err error, keep bool) bool
	begin()
	attempts() int // safe without mu
}

// typedTask is a task with its operation and future: one allocation per job.
type typedTask[T any] struct {
	task
	op  job.Op[T]
	val T
	p   job.Promise[T]
}

// newTask returns a job, not yet admitted. It panics, in the caller's
// goroutine, when the policy's RetryOnResult is for another type than T.
func newTask[T any](s *Scheduler, ctx context.Context, op job.Op[T], cfg *job.Config) *typedTask[T] {
	job.CheckResult[T](cfg.Policy)
	t := &typedTask[T]{op: op}
	t.job, t.s, t.ctx, t.index = t, s, ctx, -1
	t.p.OnCancel(t)
	t.run.Start(ctx, cfg.Policy, cfg.Key, s.envWith(cfg.Rand))
	return t
}

// Cancel is how the job's Future.Cancel reaches the scheduler.
func (t *typedTask[T]) Cancel() { t.s.cancelTask(&t.task) }

func (t *typedTask[T]) attempt() (job.Outcome, bool) {
	v, o := job.Call(t.ctx, &t.run, t.cur, t.op)
	s := t.s
	s.mu.Lock()
	if t.state == sAbandoned {
		s.mu.Unlock()
		return o, false
	}
	t.val = v // under the lock: the job is still this attempt's
	return o, true
}

func (t *typedTask[T]) begin() { t.p.Begin() }

func (t *typedTask[T]) attempts() int { return t.p.Future().Attempts() }

func (t *typedTask[T]) resolve(err error, keep bool) bool {
	var v T
	if keep && (err == nil || t.run.Policy().RetriesOnResult()) {
		v = t.val
	}
	var zero T
	t.val = zero
	if !t.p.Resolve(v, err) {
		return false
	}
	if d, ok := t.op.(interface{ Done(T, error) }); ok {
		d.Done(v, err)
	}
	return true
}

// cancelAttempt cancels the running attempt's context. Its Err is
// context.DeadlineExceeded when the job's own context ended by its deadline
// (net/http and database drivers report a timeout from it),
// context.Canceled otherwise. Called with mu.
func (t *task) cancelAttempt() {
	if t.cur == nil {
		return
	}
	err := context.Canceled
	if t.ctx.Err() == context.DeadlineExceeded {
		err = context.DeadlineExceeded
	}
	t.cur.Cancel(err)
}

// setStop records why the scheduler stops t; the first cause wins.
func (t *task) setStop(err error) {
	if t.stop == nil {
		t.stop = err
	}
}
