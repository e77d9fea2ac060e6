package scheduler

import (
	"context"
	"sync"

	"github.com/rebound-go/rebound/internal/core"
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
// the remaining results carry job.ErrClosed.
//
// Map submits from a goroutine of its own, which waits for room in the
// scheduler (WithQueueSize) as Submit does; it returns at once. opts apply
// to every job; one *job.Policy is the cheap path. Map panics if s, ctx or fn
// is nil.
func Map[In, Out any](ctx context.Context, s *Scheduler, inputs []In, fn func(context.Context, In) (Out, error), opts ...job.Option) <-chan Result[Out] {
	switch {
	case s == nil:
		panic("scheduler: Map on a nil *Scheduler")
	case ctx == nil:
		panic("scheduler: Map with a nil context")
	case fn == nil:
		panic("scheduler: Map of a nil function")
	}
	out := make(chan Result[Out], len(inputs))
	if len(inputs) == 0 {
		close(out)
		return out
	}
	m := &mapping[In, Out]{fn: fn, out: out}
	m.pending.Add(len(inputs))
	go m.feed(ctx, s, inputs, opts)
	return out
}

// MapAll is Map that waits for every result and returns them in input order.
func MapAll[In, Out any](ctx context.Context, s *Scheduler, inputs []In, fn func(context.Context, In) (Out, error), opts ...job.Option) []Result[Out] {
	rs := make([]Result[Out], len(inputs))
	for r := range Map(ctx, s, inputs, fn, opts...) {
		rs[r.Index] = r
	}
	return rs
}

// mapBatch is how many of Map's jobs are queued under one lock.
const mapBatch = 64

type mapping[In, Out any] struct {
	fn      func(context.Context, In) (Out, error)
	out     chan Result[Out]
	pending sync.WaitGroup
}

// item is one input's job: the operation and its completion in one
// allocation.
type item[In, Out any] struct {
	m   *mapping[In, Out]
	in  In
	idx int
}

// Run is the job's operation (core.Op).
func (it *item[In, Out]) Run(ctx context.Context) (Out, error) { return it.m.fn(ctx, it.in) }

// Done receives the job's result as it resolves.
func (it *item[In, Out]) Done(v Out, err error) {
	it.m.out <- Result[Out]{Index: it.idx, Value: v, Err: err}
	it.m.pending.Done()
}

func (m *mapping[In, Out]) feed(ctx context.Context, s *Scheduler, inputs []In, opts []job.Option) {
	items := make([]item[In, Out], len(inputs))
	var batch [mapBatch]*core.Task
	for lo := 0; lo < len(inputs); lo += mapBatch {
		n := min(mapBatch, len(inputs)-lo)
		// A batch admitted at once is queued under one lock; when the
		// scheduler has no room for a whole batch, its jobs go one by one,
		// waiting for room as Submit does.
		whole := !s.closedFlag.Load() && s.admit.TryAcquire(int64(n))
		for k := range n {
			it := &items[lo+k]
			it.m, it.in, it.idx = m, inputs[lo+k], lo+k
			f := newFuture[Out](s, ctx, it, opts)
			if whole {
				batch[k] = f.Task()
			} else {
				start(s, ctx, f, true)
			}
		}
		if whole {
			s.enqueueAll(batch[:n])
		}
	}
	clear(batch[:])
	m.pending.Wait()
	close(m.out)
}
