package job

import (
	"context"
	"math"
	"sync/atomic"
)

// Future is the pending result of a job run by an executor (package
// scheduler's Submit). It is safe for concurrent use: any number of
// goroutines may wait on it. It resolves exactly once, whatever happens to
// the job. The zero value is not usable; futures come from executors, which
// make them with a Promise.
type Future[T any] struct {
	state  atomic.Uint64 // bit 0: resolved; the rest: attempts started (saturating)
	done   atomic.Pointer[signal]
	val    T
	err    error
	cancel Canceler
}

// Done returns a channel that is closed when the job has ended.
func (f *Future[T]) Done() <-chan struct{} { return waitOn(&f.done) }

// Wait blocks until the job ends or ctx is done, whichever is first. When the
// job has ended it returns the job's value and error (nil, or a *Error). When
// ctx ends first it returns the zero value and ctx's error; the job goes on. A
// nil ctx waits without bound.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	if f.state.Load()&1 == 0 {
		var stop <-chan struct{}
		if ctx != nil {
			stop = ctx.Done()
		}
		select {
		case <-f.Done():
		case <-stop:
			var zero T
			return zero, ctx.Err()
		}
	}
	return f.val, f.err
}

// Cancel cancels the job: a waiting job ends at once; a running attempt's
// context is canceled and the job ends when the attempt returns (or, at a
// scheduler's shutdown, is abandoned). The job's error then has Reason
// context.Canceled and keeps the last attempt's error. Cancel does not wait
// for the job to end; it does nothing once the job has ended.
func (f *Future[T]) Cancel() {
	if f.state.Load()&1 == 0 && f.cancel != nil {
		f.cancel.Cancel()
	}
}

// Attempts returns the number of attempts started so far.
func (f *Future[T]) Attempts() int { return int(f.state.Load() >> 1) }

// Canceler is how a Future's Cancel reaches its executor.
type Canceler interface {
	Cancel()
}

// Promise is an executor's side of a Future: it counts the job's attempts
// and resolves the future, once. An executor embeds it in its own per-job
// state and hands out Future. Its methods other than Future must not run
// concurrently with each other (the executor serialises them, for instance
// under its lock); Future's methods may run at any time. The zero value is
// ready to use.
type Promise[T any] struct {
	f Future[T]
}

// Future returns the future that p resolves.
func (p *Promise[T]) Future() *Future[T] { return &p.f }

// OnCancel sets what the future's Cancel calls (nil: Cancel does nothing).
// Set it before the future is handed out.
func (p *Promise[T]) OnCancel(c Canceler) { p.f.cancel = c }

// Begin counts an attempt started, for Future.Attempts.
func (p *Promise[T]) Begin() {
	if p.f.state.Load()>>1 < math.MaxUint64>>1 {
		p.f.state.Add(2)
	}
}

// Hold sets the value the future resolves with (an executor holds each
// attempt's value as the attempt returns). It does nothing once the future
// has resolved.
func (p *Promise[T]) Hold(v T) {
	if p.f.state.Load()&1 == 0 {
		p.f.val = v
	}
}

// Value returns the value held.
func (p *Promise[T]) Value() T { return p.f.val }

// Resolve resolves the future with the value held and err (nil: success)
// unless it has resolved already, and reports whether this call resolved
// it.
func (p *Promise[T]) Resolve(err error) bool {
	f := &p.f
	if f.state.Load()&1 != 0 {
		return false
	}
	f.err = err
	f.state.Or(1)
	fire(&f.done)
	return true
}

// Resolved reports whether the future has resolved.
func (p *Promise[T]) Resolved() bool { return p.f.state.Load()&1 != 0 }

// signal is a channel closed once, made only when someone waits on it.
type signal struct{ c chan struct{} }

// closedChan is a closed channel, the Done of anything that ended before
// anyone asked for its channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// fired is the signal of anything that has happened already.
var fired = &signal{closedChan}

// waitOn returns the channel of the signal in p, making it if needed.
func waitOn(p *atomic.Pointer[signal]) <-chan struct{} {
	if s := p.Load(); s != nil {
		return s.c
	}
	s := &signal{make(chan struct{})}
	if p.CompareAndSwap(nil, s) {
		return s.c
	}
	return p.Load().c
}

// fire fires the signal in p (once; later calls do nothing).
func fire(p *atomic.Pointer[signal]) {
	if old := p.Swap(fired); old != nil && old != fired {
		close(old.c)
	}
}
