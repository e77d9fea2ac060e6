package core

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// attempter is the typed half of a task: it runs the operation and keeps its
// value.
type attempter interface {
	attempt(ctx context.Context, own Owner) (retryValue bool, err error, c Class, owned bool)
	settle(success, keep bool)
	notify()
}

// Task is one job as an executor sees it: the retry state, the job's
// context, and the future's resolution. The executor fields (Cur, Due,
// Index, State, Slot, Watch) belong to the executor and are
// guarded by its lock. The struct is kept small: it is what a parked job
// costs.
type Task struct {
	Run
	Ctx context.Context

	self  attempter
	state atomic.Uint32 // bit 0: resolved; the rest: attempts started (saturating)
	Index int32         // heap position; -1 when not parked
	done  atomic.Pointer[signal]
	err   error // before resolution: the executor's stop cause (Stop)

	// First is the context of the first attempt when that attempt has no
	// deadline of its own: embedded, so that a job that succeeds at once
	// allocates no context. Cur is the running attempt's context otherwise.
	First firstCtx
	Cur   *AttemptCtx

	Due   int64 // when parked: due time, in the executor's units
	State uint8
	Slot  bool  // holds a slot of its key
	Watch *Link // the task's place on the executor's list for Ctx; nil if not on it
}

// Link is a task's place in a doubly linked list of the executor's,
// allocated only for a task that is on one (a cancelable context's).
type Link struct {
	Next, Prev *Task
}

// CancelAttempt cancels the running attempt's context (a no-op once the
// attempt has ended). Its Err is context.DeadlineExceeded when the job's own
// context ended by its deadline (net/http and database drivers report a
// timeout from it), context.Canceled otherwise. Under the executor's lock.
func (t *Task) CancelAttempt() {
	err := context.Canceled
	if t.Ctx.Err() == context.DeadlineExceeded {
		err = context.DeadlineExceeded
	}
	if t.Cur != nil {
		t.Cur.Cancel(err)
		return
	}
	t.First.cancel(err)
}

// EndAttempt releases the context of the attempt that has just returned.
func (t *Task) EndAttempt(ac *AttemptCtx) {
	if ac != nil {
		ac.End()
		return
	}
	t.First.cancel(context.Canceled)
}

// Begin counts a new attempt of t and returns its number.
func (t *Task) Begin() int {
	n := t.Run.Begin()
	if t.state.Load()>>1 < math.MaxUint32>>1 {
		t.state.Add(2)
	}
	return n
}

// Attempts returns the number of attempts started; safe for concurrent use.
func (t *Task) Attempts() int { return int(t.state.Load() >> 1) }

// Stop returns why the executor stopped t (cancel, close), or nil. Only
// before resolution, under the executor's lock.
func (t *Task) Stop() error { return t.err }

// SetStop records why the executor stops t; the first cause wins. Only
// before resolution, under the executor's lock.
func (t *Task) SetStop(err error) {
	if t.err == nil {
		t.err = err
	}
}

// Op is a job's operation. A plain function is an OpFunc; an Op that also
// has a Done(T, error) method is told the result as the task resolves, on
// the resolving goroutine, under the executor's lock: it must not block.
type Op[T any] interface {
	Run(context.Context) (T, error)
}

// OpFunc adapts a function to an Op; converting a func to it allocates
// nothing.
type OpFunc[T any] func(context.Context) (T, error)

// Run calls f.
func (f OpFunc[T]) Run(ctx context.Context) (T, error) { return f(ctx) }

// Future is a Task with its operation and value. It has no embedded or
// exported fields, so that package job can define its public Future on it
// without promoting any of the Task's methods.
type Future[T any] struct {
	task Task
	op   Op[T]
	val  T // the result; written before resolution
}

// NewFuture returns a pending future for op under policy p. It panics, with
// a message for the caller, when p's RetryOnResult was made for another T.
func NewFuture[T any](ctx context.Context, op Op[T], p *Policy, key string, env *Env) *Future[T] {
	CheckResult[T](p)
	f := &Future[T]{op: op}
	t := &f.task
	t.self = f
	t.Ctx, t.Index, t.First.t = ctx, -1, t
	t.Init(ctx, p, key, env)
	return f
}

// Task returns f's type-erased half.
func (f *Future[T]) Task() *Task { return &f.task }

// CheckResult panics when p's RetryOnResult predicate is not for T.
func CheckResult[T any](p *Policy) {
	if p.Result == nil {
		return
	}
	if _, ok := p.Result.(func(T) bool); !ok {
		panic(fmt.Sprintf("job: RetryOnResult[%s] used with a job of type %s", p.ResultType, TypeName[T]()))
	}
}

// TypeName returns T's name as %T prints it.
func TypeName[T any]() string {
	return fmt.Sprintf("%T", (*T)(nil))[1:]
}

// Owner is the executor's side of an attempt's end: Own is called once the
// operation has returned; it takes the executor's lock and reports whether
// the task is still this attempt's (not abandoned meanwhile). When it
// reports true the lock stays held for the caller of Attempt; when false it
// is released.
type Owner interface {
	Own(t *Task) bool
}

// Attempt runs one attempt of t's operation with ctx (panics are recovered
// into a permanent error), reads the error's class (Classify) and then calls
// own.Own; the value is kept only if the task is still owned. It returns with
// the executor's lock held iff owned, so that the executor can act on the
// class (a key pause) before any other code runs.
func (t *Task) Attempt(ctx context.Context, own Owner) (retryValue bool, err error, c Class, owned bool) {
	return t.self.attempt(ctx, own)
}

func (f *Future[T]) attempt(ctx context.Context, own Owner) (retryValue bool, err error, c Class, owned bool) {
	var v T
	func() {
		defer func() {
			if x := recover(); x != nil {
				retryValue, err = false, Recovered(x)
			}
		}()
		v, err = f.op.Run(ctx)
		if p := f.task.Policy; err == nil && p.Result != nil {
			retryValue = p.Result.(func(T) bool)(v)
		}
	}()
	c = Classify(err)
	if owned = own.Own(&f.task); owned {
		f.val = v // under the executor's lock: the job is still this attempt's
	}
	return retryValue, err, c, owned
}

func (f *Future[T]) notify() {
	if d, ok := f.op.(interface{ Done(T, error) }); ok {
		d.Done(f.val, f.task.err)
	}
}

func (f *Future[T]) settle(success, keep bool) {
	if !keep || (!success && f.task.Policy.Result == nil) {
		var zero T
		f.val = zero
	}
}

// Resolve resolves t with err (nil: success) unless it is resolved already;
// it reports whether this call resolved it. With keep, the last attempt's
// value becomes the result (always on success; on failure only under
// RetryOnResult). An executor passes keep=false when the last attempt may
// still be running (an abandoned attempt). Calls of Resolve on one task must
// not run concurrently: the executor makes them under its lock.
func (t *Task) Resolve(err error, keep bool) bool {
	if t.state.Load()&1 != 0 {
		return false
	}
	t.self.settle(err == nil, keep)
	t.err = err
	t.state.Or(1)
	fire(&t.done)
	t.self.notify()
	return true
}

// Resolved reports whether t has resolved.
func (t *Task) Resolved() bool { return t.state.Load()&1 != 0 }

// Done returns a channel closed when t resolves.
func (t *Task) Done() <-chan struct{} { return waitOn(&t.done) }

// Cancel asks t's executor to cancel it.
func (t *Task) Cancel() {
	if t.state.Load()&1 == 0 && t.Env.Cancel != nil {
		t.Env.Cancel(t)
	}
}

// Err returns t's error; valid once t has resolved.
func (t *Task) Err() error { return t.err }

// Wait waits for f to resolve or ctx to end (nil: no bound).
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	t := &f.task
	if t.state.Load()&1 == 0 {
		var stop <-chan struct{}
		if ctx != nil {
			stop = ctx.Done()
		}
		select {
		case <-t.Done():
		case <-stop:
			var zero T
			return zero, ctx.Err()
		}
	}
	return f.val, t.err
}
