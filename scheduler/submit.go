package scheduler

import (
	"context"
	"math/rand/v2"
	"slices"

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
	check(s, ctx, op == nil)
	f, _ := start(s, ctx, job.OpFunc[T](op), opts, true)
	return f
}

// Do runs op as a job and returns its value and error once the job has
// ended: Submit followed by Wait, made cheaper for a caller that blocks
// anyway. When a worker's place is free and no job is queued, the job's
// first attempt runs on the calling goroutine, after the same admission and
// key gates as any attempt and counted against WithWorkers like one, so
// the bound on attempts running at once holds. Its retries, and a first
// attempt that finds no free place or must wait for its key, run on the
// workers while Do waits. Everything else is Submit's: Do blocks while the
// scheduler is full; ctx's end ends the job (its error's Reason is then
// ctx's cause); hooks, keys, budgets and the observer apply; the error is
// nil or a *job.Error. Do panics as Submit does.
func Do[T any](s *Scheduler, ctx context.Context, op func(context.Context) (T, error), opts ...job.Option) (T, error) {
	check(s, ctx, op == nil)
	cfg := job.Configure(s.defaults, opts...)
	t := newDoTask(s, ctx, job.OpFunc[T](op), &cfg)
	s.call(&t.task, &t.first)
	return t.p.Future().Wait(context.Background())
}

// call admits t and runs its first attempt on the calling goroutine, with
// context a (fresh), when a worker's place is free, nothing is queued and
// its key lets it; otherwise it queues t (or leaves it where its key's gate
// put it). It returns when the inline attempt is over, or at once.
func (s *Scheduler) call(t *task, a *job.Attempt) {
	if err := s.take1(t.ctx, true); err != nil {
		s.mu.Lock()
		s.resolve(t, t.run.Fail(err), endCanceled) // never admitted
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	if s.acceptLocked(t, true) == nil && t.state == sQueued {
		// A job that waits is registered with its context, so that the
		// context's end ends it at once. The inline attempt needs no
		// registration: its context derives from the job's, and a retry
		// registers when it parks.
		switch {
		case len(s.freeIDs) == 0 || s.fresh.len()+s.ready.len() > 0:
			s.watchCtx(t)
			s.fresh.push(t) // no place, or jobs before it: the workers' turn
			s.signal()
		case s.gate(t):
			s.runInline(t, a)
			return
		case t.state != sDone:
			s.watchCtx(t) // its key made it wait
		}
	}
	s.mu.Unlock()
}

// TrySubmit is Submit that never blocks. It returns nil and the reason
// whenever the job was not accepted: ErrQueueFull when the scheduler is
// full, job.ErrClosed once it has shut down.
func TrySubmit[T any](s *Scheduler, ctx context.Context, op func(context.Context) (T, error), opts ...job.Option) (*job.Future[T], error) {
	check(s, ctx, op == nil)
	return start(s, ctx, job.OpFunc[T](op), opts, false)
}

// Go is Submit for an operation that returns only an error.
func (s *Scheduler) Go(ctx context.Context, op func(context.Context) error, opts ...job.Option) *job.Future[struct{}] {
	check(s, ctx, op == nil)
	f, _ := start(s, ctx, errOp(op), opts, true)
	return f
}

// TryGo is TrySubmit for an operation that returns only an error: nil and
// ErrQueueFull or job.ErrClosed when the job was not accepted.
func (s *Scheduler) TryGo(ctx context.Context, op func(context.Context) error, opts ...job.Option) (*job.Future[struct{}], error) {
	check(s, ctx, op == nil)
	return start(s, ctx, errOp(op), opts, false)
}

// errOp is an operation that returns only an error, as a job.Op (a func
// converts to it without allocating).
type errOp func(context.Context) error

func (op errOp) Run(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) }

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

// start makes op's job and admits it: the one way in for Submit, TrySubmit,
// Go and TryGo. A blocking start always returns a future (resolved at once
// when the job was not admitted); a non-blocking one returns nil and the
// reason (ErrQueueFull, job.ErrClosed) when the job was not accepted.
func start[T any](s *Scheduler, ctx context.Context, op job.Op[T], opts []job.Option, block bool) (*job.Future[T], error) {
	cfg := job.Configure(s.defaults, opts...) // job.Clock is ignored: the scheduler has one clock
	t := newTask(s, ctx, op, &cfg)
	if err := s.admit(&t.task, block); err != nil && !block {
		return nil, err
	}
	return t.p.Future(), nil
}

// envWith returns the environment of a job with random source rnd (nil: the
// scheduler's).
func (s *Scheduler) envWith(rnd *rand.Rand) *job.Env {
	if rnd == nil {
		return s.env
	}
	return &job.Env{Clock: s.clock, Rand: rnd, Epoch: s.epoch}
}

// admit takes a place for t in the admission bound and queues it. When t
// cannot be admitted (the scheduler has shut down, or ctx ended while a
// blocking admit waited for room) a blocking admit resolves t with the
// reason; a non-blocking one leaves t unresolved. It returns the reason.
//
// A job with no key and a context that cannot end is queued without the
// scheduler's lock (an atomic place, an atomic push) unless a worker must be
// woken or started; other jobs take the lock once.
func (s *Scheduler) admit(t *task, block bool) error {
	err := s.take1(t.ctx, block)
	if err == nil {
		if t.ctx.Done() == nil && t.run.Key() == "" {
			s.enqueueFast(t)
			return nil
		}
		s.mu.Lock()
		err = s.enqueueLocked(t, block)
		s.mu.Unlock()
		return err
	}
	if block {
		s.mu.Lock()
		s.resolve(t, t.run.Fail(err), endCanceled) // never admitted: counted as submitted and canceled
		s.mu.Unlock()
	}
	return err
}

// enqueueFast queues admitted t, with no key and a context that cannot
// end, without the lock: the lock is taken only to wake or start a worker,
// or when the scheduler stopped meanwhile.
func (s *Scheduler) enqueueFast(t *task) {
	s.queueFast(t)
	s.pushed(1)
}

// queueFast counts admitted t as submitted and pushes it to the inbox,
// without the lock; the caller then calls pushed.
func (s *Scheduler) queueFast(t *task) {
	t.state = sQueued // before the push: a worker reads it after its pop
	s.submitted.Add(1)
	s.emit(t.ctx, Event{Kind: JobSubmitted})
	s.fresh.push(t)
}

// pushed makes sure that the n tasks just pushed to the inbox without the
// lock are taken: it wakes or starts up to n workers when not enough
// workers are about to look for work.
func (s *Scheduler) pushed(n int) {
	if s.phase.Load() == stopped {
		// Shutdown or Close finished while t was being pushed: the workers
		// may have left. Whoever holds the lock now ends what is queued.
		s.mu.Lock()
		s.endQueued()
		s.mu.Unlock()
		return
	}
	if int(s.between.Load()) >= s.fresh.len()+s.ready.approxLen() {
		return // workers between two jobs will take it (retries first)
	}
	if s.idle.Load() == 0 && int(s.workers.Load()) >= s.cfg.workers {
		return // every worker is busy and takes it next
	}
	s.mu.Lock()
	for range n {
		s.signal() // (each wakes or starts one worker, while one is needed)
	}
	s.mu.Unlock()
}

// tryTake takes n places in the admission bound if there is room for all.
func (s *Scheduler) tryTake(n int64) bool {
	limit := int64(s.cfg.queueSize)
	for {
		cur := s.admitted.Load()
		if cur+n > limit {
			return false
		}
		if s.admitted.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// take1 takes one place in the admission bound: at once while there is
// room (one atomic operation), otherwise, when block, waiting until a job
// ends, ctx ends (its cause) or intake stops (job.ErrClosed).
func (s *Scheduler) take1(ctx context.Context, block bool) error {
	if s.phase.Load() != open {
		return job.ErrClosed
	}
	if s.tryTake(1) {
		if s.phase.Load() != open { // intake stopped meanwhile: give it back
			s.mu.Lock()
			s.release1()
			s.mu.Unlock()
			return job.ErrClosed
		}
		return nil
	}
	if !block {
		return ErrQueueFull
	}
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		ch := make(chan struct{})
		s.mu.Lock()
		if s.phase.Load() != open {
			s.mu.Unlock()
			return job.ErrClosed
		}
		if s.tryTake(1) { // a place freed before we could wait for it
			s.mu.Unlock()
			return nil
		}
		s.admitWaiters = append(s.admitWaiters, ch)
		s.nAdmitWait.Store(int32(len(s.admitWaiters)))
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		case <-s.closing:
		}
		s.mu.Lock()
		if i := slices.Index(s.admitWaiters, ch); i >= 0 {
			s.admitWaiters = slices.Delete(s.admitWaiters, i, i+1)
			s.nAdmitWait.Store(int32(len(s.admitWaiters)))
		}
		s.mu.Unlock()
		if s.tryTake(1) {
			if s.phase.Load() != open {
				s.mu.Lock()
				s.release1()
				s.mu.Unlock()
				return job.ErrClosed
			}
			return nil
		}
	}
}

// release1 gives back one place of the admission bound, wakes a blocked
// Submit, and reports the scheduler drained once intake has stopped and no
// job is left. Called with mu.
func (s *Scheduler) release1() {
	left := s.admitted.Add(-1)
	if s.nAdmitWait.Load() > 0 && len(s.admitWaiters) > 0 {
		close(s.admitWaiters[0])
		s.admitWaiters = s.admitWaiters[1:]
		s.nAdmitWait.Store(int32(len(s.admitWaiters)))
	}
	if left == 0 && s.phase.Load() >= draining {
		s.closeDrained()
	}
}

// endQueued ends every new submission still queued with job.ErrClosed: what
// a submission pushed while the workers left. Called with mu.
func (s *Scheduler) endQueued() {
	for t := s.fresh.pop(); t != nil; t = s.fresh.pop() {
		if t.state == sQueued {
			t.setStop(stopClosed)
			s.resolve(t, t.run.Fail(job.ErrClosed), endCanceled)
		}
	}
}

// enqueueLocked queues an admitted job. When intake has stopped meanwhile,
// a blocking caller's job resolves with job.ErrClosed and a non-blocking
// caller's is given back; both return job.ErrClosed. Called with mu.
func (s *Scheduler) enqueueLocked(t *task, block bool) error {
	if err := s.acceptLocked(t, block); err != nil || t.state != sQueued {
		return err
	}
	s.watchCtx(t)
	s.fresh.push(t)
	s.signal()
	return nil
}

// acceptLocked counts an admitted job as submitted and registers it with
// its key, leaving it sQueued for the caller to queue (registered with its
// context first) or run; a job whose context has ended already resolves
// (sDone). When intake has stopped meanwhile it returns job.ErrClosed, as
// enqueueLocked does. Called with mu.
func (s *Scheduler) acceptLocked(t *task, block bool) error {
	if s.phase.Load() != open {
		s.release1()
		if block {
			s.resolve(t, t.run.Fail(job.ErrClosed), endCanceled)
		}
		return job.ErrClosed
	}
	t.state = sQueued
	s.submitted.Add(1)
	s.emit(t.ctx, Event{Kind: JobSubmitted, Key: t.run.Key()})
	if err := t.ctx.Err(); err != nil {
		s.resolve(t, t.run.Fail(context.Cause(t.ctx)), endCanceled)
		return nil
	}
	if k := t.run.Key(); k != "" {
		s.key(k).jobs++
		t.keyed = true
	}
	return nil
}
