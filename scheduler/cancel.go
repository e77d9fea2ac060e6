package scheduler

import (
	"context"

	"github.com/rebound-go/rebound/internal/core"
)

// watch is the one registration the scheduler keeps per distinct job context
// (per Done channel): the jobs under it, in a list through Task.Watch,
// and one context.AfterFunc. Canceling a context that a million jobs share
// runs one callback, not a million goroutines.
type watch struct {
	ctx  context.Context
	head *core.Task
	n    int
	stop func() bool
}

// watchCtx registers t with its context's watch. Called with mu.
func (s *Scheduler) watchCtx(t *core.Task) {
	done := t.Ctx.Done()
	if done == nil {
		return // never canceled
	}
	w := s.watches[done]
	if w == nil {
		w = &watch{ctx: t.Ctx}
		s.watches[done] = w
		s.callbacks.Add(1)
		w.stop = context.AfterFunc(t.Ctx, func() {
			defer s.callbacks.Done()
			s.ctxDone(done)
		})
	}
	t.Watch = &core.Link{Next: w.head}
	if w.head != nil {
		w.head.Watch.Prev = t
	}
	w.head = t
	w.n++
}

// unwatch removes t from its context's watch, dropping the watch when it is
// empty. Called with mu.
func (s *Scheduler) unwatch(t *core.Task) {
	l := t.Watch
	if l == nil {
		return
	}
	t.Watch = nil
	w := s.watches[t.Ctx.Done()]
	if l.Prev != nil {
		l.Prev.Watch.Next = l.Next
	} else {
		w.head = l.Next
	}
	if l.Next != nil {
		l.Next.Watch.Prev = l.Prev
	}
	w.n--
	if w.n == 0 {
		delete(s.watches, t.Ctx.Done())
		if w.stop() {
			s.callbacks.Done() // the callback will never run
		}
	}
}

// ctxDone cancels every job under a context that has ended.
func (s *Scheduler) ctxDone(done <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watches[done]
	if w == nil {
		return
	}
	cause := context.Cause(w.ctx)
	for t := w.head; t != nil; {
		next := t.Watch.Next
		s.cancel(t, cause)
		t = next
	}
}

// cancelTask is how job.Future.Cancel reaches the scheduler (Task.Canceler).
func (s *Scheduler) cancelTask(t *core.Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel(t, context.Canceled)
}

// cancel ends t with cause: at once when it is queued, waiting or parked;
// when it is running, by canceling its attempt's context (it ends when the
// attempt returns). Called with mu.
func (s *Scheduler) cancel(t *core.Task, cause error) {
	switch t.State {
	case sQueued, sParked, sGated:
		if t.State == sGated {
			s.nWaiting--
		}
		s.finish(t, t.Fail(cause), endCanceled, true)
	case sRunning, sJudging:
		t.SetStop(cause)
		t.CancelAttempt()
	}
}
