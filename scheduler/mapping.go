package scheduler

import (
	"context"
	"sync/atomic"

	"github.com/rebound-go/rebound/job"
)

// Result is the outcome of one input of Map.
type Result[Out any] struct {
	Index int // the input's index
	Value Out
	Err   error // nil, or the job's error (a *job.Error)
}

// Map runs fn on every input as a job on s and sends each result on the
// returned channel as it completes, in completion order. The channel has
// room for every result and is closed after the last one, so a reader may
// stop early: the jobs still run to their end (cancel ctx to stop them) and
// nothing leaks. Canceling ctx cancels the jobs not yet ended; their results
// still arrive, with ctx's cause as Reason. When the scheduler shuts down,
// the remaining results carry job.ErrClosed, inputs not yet submitted
// included; Shutdown and Close stop Map's submitting and wait for it.
//
// Map submits from a goroutine of its own, which waits for room in the
// scheduler (WithQueueSize) as Submit does; it returns at once. opts apply
// to every job; one *job.Policy is the cheap path. Map panics, before it
// returns and in the caller's goroutine, if s, ctx or fn is nil or if a
// RetryOnResult predicate is for another type than Out.
func Map[In, Out any](s *Scheduler, ctx context.Context, inputs []In, fn func(context.Context, In) (Out, error), opts ...job.Option) <-chan Result[Out] {
	switch {
	case s == nil:
		panic("scheduler: Map on a nil *Scheduler")
	case ctx == nil:
		panic("scheduler: Map with a nil context")
	case fn == nil:
		panic("scheduler: Map of a nil function")
	}
	cfg := job.Configure(s.defaults, opts...)
	job.CheckResult[Out](cfg.Policy)
	out := make(chan Result[Out], len(inputs))
	if len(inputs) == 0 {
		close(out)
		return out
	}
	m := &mapping[In, Out]{fn: fn, out: out, cfg: cfg}
	m.left.Store(int64(len(inputs)))
	s.mu.Lock()
	if s.phase.Load() != open {
		s.mu.Unlock()
		m.reject(s, inputs, 0)
		return out
	}
	s.feeders.Add(1)
	s.mu.Unlock()
	go m.feed(ctx, s, inputs)
	return out
}

// MapAll is Map that waits for every result and returns them in input order.
func MapAll[In, Out any](s *Scheduler, ctx context.Context, inputs []In, fn func(context.Context, In) (Out, error), opts ...job.Option) []Result[Out] {
	rs := make([]Result[Out], len(inputs))
	for r := range Map(s, ctx, inputs, fn, opts...) {
		rs[r.Index] = r
	}
	return rs
}

// mapBatch is how many of Map's jobs are queued under one lock.
const mapBatch = 64

type mapping[In, Out any] struct {
	fn   func(context.Context, In) (Out, error)
	out  chan Result[Out]
	left atomic.Int64 // results not yet sent; the last one closes out
	cfg  job.Config
}

// item is one input's job: the operation and its completion in one
// allocation.
type item[In, Out any] struct {
	m   *mapping[In, Out]
	in  In
	idx int
}

// Run is the job's operation (job.Op).
func (it *item[In, Out]) Run(ctx context.Context) (Out, error) { return it.m.fn(ctx, it.in) }

// Done receives the job's result as it resolves.
func (it *item[In, Out]) Done(v Out, err error) {
	it.m.send(Result[Out]{Index: it.idx, Value: v, Err: err})
}

func (m *mapping[In, Out]) send(r Result[Out]) {
	m.out <- r // never blocks: out has room for every input
	if m.left.Add(-1) == 0 {
		close(m.out)
	}
}

// feed submits the inputs, as Submit does (start): a batch that fits in the
// admission bound at once is queued under one lock; otherwise each job waits
// for room. It stops as soon as the scheduler stops intake: the inputs left
// resolve with job.ErrClosed without being submitted.
func (m *mapping[In, Out]) feed(ctx context.Context, s *Scheduler, inputs []In) {
	defer s.feeders.Done()
	items := make([]item[In, Out], len(inputs))
	var batch [mapBatch]*typedTask[Out]
	fast := ctx.Done() == nil && m.cfg.Key == ""
	defer clear(batch[:])
	for lo := 0; lo < len(inputs); lo += mapBatch {
		n := min(mapBatch, len(inputs)-lo)
		if s.phase.Load() != open {
			m.reject(s, inputs, lo)
			return
		}
		for k := range n {
			it := &items[lo+k]
			it.m, it.in, it.idx = m, inputs[lo+k], lo+k
			batch[k] = newTask[Out](s, ctx, it, &m.cfg)
		}
		if s.tryTake(int64(n)) {
			if fast {
				// No key, a context that cannot end: queued without the
				// lock, one wake decision for the batch (as Submit does).
				for _, t := range batch[:n] {
					s.queueFast(&t.task)
				}
				s.pushed(n)
				continue
			}
			s.mu.Lock()
			for _, t := range batch[:n] {
				s.enqueueLocked(&t.task, true)
			}
			s.mu.Unlock()
			continue
		}
		for k, t := range batch[:n] {
			if s.phase.Load() != open {
				m.reject(s, inputs, lo+k)
				return
			}
			s.admit(&t.task, true)
		}
	}
}

// reject resolves inputs[from:], never submitted, with job.ErrClosed; Stats
// counts them as submitted and canceled, as a Submit after Shutdown.
func (m *mapping[In, Out]) reject(s *Scheduler, inputs []In, from int) {
	n := len(inputs) - from
	s.mu.Lock()
	s.submitted.Add(uint64(n))
	if obs := s.observer(); obs != nil {
		for range n {
			obs.Observe(context.Background(), Event{Kind: JobSubmitted, Key: m.cfg.Key})
			obs.Observe(context.Background(), Event{Kind: JobEnded, Key: m.cfg.Key, Err: &job.Error{Reason: job.ErrClosed}, Reason: job.ErrClosed, Canceled: true})
		}
	}
	s.st.Canceled += uint64(n)
	s.changed()
	s.mu.Unlock()
	for i := from; i < len(inputs); i++ {
		m.send(Result[Out]{Index: i, Err: &job.Error{Reason: job.ErrClosed}})
	}
}
