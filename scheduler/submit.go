package scheduler

import (
	"context"
	"math/rand/v2"

	"github.com/rebound-go/rebound/internal/core"
	"github.com/rebound-go/rebound/job"
)

// Submit submits op as a job and returns its future. It blocks only while the
// scheduler holds as many jobs as WithQueueSize allows, until room frees up,
// ctx is done, or the scheduler shuts down; in the last two cases the
// returned future is already resolved (Reason: ctx's cause, or
// job.ErrClosed) and no attempt is made. On a scheduler that is shut down it
// returns at once with such a future.
//
// ctx is the job's context: its end cancels the job (a parked job at once),
// and its deadline bounds the job like MaxElapsed. opts apply over the
// scheduler's WithDefaults; passing one *job.Policy (and a job.Key) is the
// cheap path. Submit panics if s, ctx or op is nil, or if a RetryOnResult
// predicate is for another type than T.
func Submit[T any](s *Scheduler, ctx context.Context, op func(context.Context) (T, error), opts ...job.Option) *job.Future[T] {
	f, _ := submit(s, ctx, op, opts, true)
	return f
}

// TrySubmit is Submit that never blocks. It returns nil and the reason
// whenever the job was not accepted: ErrQueueFull when the scheduler is
// full, job.ErrClosed once it has shut down.
func TrySubmit[T any](s *Scheduler, ctx context.Context, op func(context.Context) (T, error), opts ...job.Option) (*job.Future[T], error) {
	return submit(s, ctx, op, opts, false)
}

// Go is Submit for an operation that returns only an error.
func (s *Scheduler) Go(ctx context.Context, op func(context.Context) error, opts ...job.Option) *job.Future[struct{}] {
	f, _ := goErr(s, ctx, op, opts, true)
	return f
}

// TryGo is TrySubmit for an operation that returns only an error: nil and
// ErrQueueFull or job.ErrClosed when the job was not accepted.
func (s *Scheduler) TryGo(ctx context.Context, op func(context.Context) error, opts ...job.Option) (*job.Future[struct{}], error) {
	return goErr(s, ctx, op, opts, false)
}

// errOp is an operation that returns only an error, as a core.Op (a func
// converts to it without allocating).
type errOp func(context.Context) error

func (op errOp) Run(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) }

func goErr(s *Scheduler, ctx context.Context, op func(context.Context) error, opts []job.Option, block bool) (*job.Future[struct{}], error) {
	check(s, ctx, op == nil)
	return start(s, ctx, newFuture[struct{}](s, ctx, errOp(op), opts), block)
}

// check panics on misuse of Submit and its kin.
func check(s *Scheduler, ctx context.Context, nilOp bool) {
	switch {
	case s == nil:
		panic("scheduler: Submit to a nil *Scheduler")
	case ctx == nil:
		panic("scheduler: Submit with a nil context")
	case nilOp:
		panic("scheduler: Submit of a nil operation")
	}
}

func submit[T any](s *Scheduler, ctx context.Context, op func(context.Context) (T, error), opts []job.Option, block bool) (*job.Future[T], error) {
	check(s, ctx, op == nil)
	return start(s, ctx, newFuture(s, ctx, core.OpFunc[T](op), opts), block)
}

// newFuture makes a job's future, not yet submitted.
func newFuture[T any](s *Scheduler, ctx context.Context, op core.Op[T], opts []job.Option) *core.Future[T] {
	r := core.Resolve(s.defaults, opts) // job.Clock is ignored: the scheduler has one clock
	return core.NewFuture(ctx, op, r.Policy, r.Key, s.envWith(r.Rand))
}

// envWith returns the environment of a job with random source rnd (nil: the
// scheduler's).
func (s *Scheduler) envWith(rnd *rand.Rand) *core.Env {
	if rnd == nil {
		return s.env
	}
	return &core.Env{Cancel: s.env.Cancel, Clock: s.clock, Rand: rnd, Epoch: s.epoch}
}

// start admits and queues f. A blocking start always returns a future
// (resolved at once when f was not admitted); a non-blocking one returns
// nil and the reason (ErrQueueFull, job.ErrClosed) when f was not accepted.
func start[T any](s *Scheduler, ctx context.Context, f *core.Future[T], block bool) (*job.Future[T], error) {
	t := f.Task()
	if err := s.admitOne(ctx, block); err != nil {
		if !block {
			return nil, err
		}
		s.reject(t, err)
	} else if err := s.enqueue(t, block); err != nil {
		return nil, err
	}
	return (*job.Future[T])(f), nil
}

// admitOne takes one place in the admission bound.
func (s *Scheduler) admitOne(ctx context.Context, block bool) error {
	if s.closedFlag.Load() {
		return job.ErrClosed
	}
	if s.admit.TryAcquire(1) {
		return nil
	}
	if !block {
		return ErrQueueFull
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.closing, func() { cancel(job.ErrClosed) })
	defer stop()
	if s.admit.Acquire(actx, 1) != nil {
		return context.Cause(actx)
	}
	return nil
}

// reject resolves a job that was not admitted.
func (s *Scheduler) reject(t *core.Task, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Submitted++
	s.st.Canceled++
	t.State = sDone
	t.Resolve(t.Fail(reason), false)
}

// enqueue queues an admitted job. When the scheduler has stopped intake
// meanwhile, a blocking caller's job resolves with job.ErrClosed; a
// non-blocking caller's is given back and enqueue returns job.ErrClosed.
func (s *Scheduler) enqueue(t *core.Task, block bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && !block {
		s.admit.Release(1)
		return job.ErrClosed
	}
	s.enqueueLocked(t)
	return nil
}

// enqueueAll queues admitted jobs under one lock.
func (s *Scheduler) enqueueAll(ts []*core.Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		s.enqueueLocked(t)
	}
}

// enqueueLocked queues an admitted job. Called with mu.
func (s *Scheduler) enqueueLocked(t *core.Task) {
	if s.closed {
		s.admit.Release(1)
		s.st.Submitted++
		s.st.Canceled++
		t.State = sDone
		t.Resolve(t.Fail(job.ErrClosed), false)
		return
	}
	s.st.Submitted++
	s.inflight++
	if cause := core.Cause(t.Ctx); cause != nil {
		t.State = sQueued
		t.Key = "" // never counted with its key
		s.finish(t, t.Fail(cause), endCanceled, true)
		return
	}
	s.watchCtx(t)
	if t.Key != "" {
		s.key(t.Key).jobs++
	}
	t.State = sQueued
	s.fresh.push(t)
	s.signal()
}
