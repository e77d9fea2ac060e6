package scheduler

import (
	"context"
)

// watch is the one registration the scheduler keeps per distinct job context
// (per Done channel): the jobs under it, in a list through task.watch,
// and one context.AfterFunc. Canceling a context that a million jobs share
// runs one callback, not a million goroutines.
type watch struct {
	ctx  context.Context
	head *task
	n    int
	stop func() bool
}

// watchCtx registers t with its context's watch, once. Called with mu.
func (s *Scheduler) watchCtx(t *task) {
	done := t.ctx.Done()
	if done == nil || t.watch != nil {
		return // never canceled, or registered already
	}
	w := s.watches[done]
	if w == nil {
		w = &watch{ctx: t.ctx}
		s.watches[done] = w
		s.callbacks.Add(1)
		w.stop = context.AfterFunc(t.ctx, func() {
			defer s.callbacks.Done()
			s.ctxDone(done)
		})
	}
	t.watch = &link{next: w.head}
	if w.head != nil {
		w.head.watch.prev = t
	}
	w.head = t
	w.n++
}

// unwatch removes t from its context's watch, dropping the watch when it is
// empty. Called with mu.
func (s *Scheduler) unwatch(t *task) {
	l := t.watch
	if l == nil {
		return
	}
	t.watch = nil
	w := s.watches[t.ctx.Done()]
	if l.prev != nil {
		l.prev.watch.next = l.next
	} else {
		w.head = l.next
	}
	if l.next != nil {
		l.next.watch.prev = l.prev
	}
	w.n--
	if w.n == 0 {
		delete(s.watches, t.ctx.Done())
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
	for t := w.head; t != nil; {
		next := t.watch.next
		s.cancel(t, stopCtx)
		t = next
	}
}

// cancelTask is how job.Future.Cancel reaches the scheduler.
func (s *Scheduler) cancelTask(t *task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel(t, stopCanceled)
}

// cancel stops t for why (a stop* cause): at once when it is queued,
// waiting or parked; when it is running, by canceling its attempt's context
// (it ends when the attempt returns). Called with mu.
func (s *Scheduler) cancel(t *task, why uint8) {
	switch t.state {
	case sQueued, sParked, sGated, sPaced, sTokened:
		if t.state == sGated {
			s.nWaiting--
		}
		t.setStop(why)
		s.resolve(t, t.run.Fail(s.stopOf(t)), endCanceled)
	case sRunning, sJudging:
		t.setStop(why)
		s.cancelAttempt(t)
	}
}

// cancelAttempt cancels the context of t's running attempt. Its Err is
// context.DeadlineExceeded when the job's own context ended by its deadline
// (net/http and database drivers report a timeout from it),
// context.Canceled otherwise. Called with mu.
func (s *Scheduler) cancelAttempt(t *task) {
	err := context.Canceled
	if t.ctx.Err() == context.DeadlineExceeded {
		err = context.DeadlineExceeded
	}
	for id, r := range s.slots {
		if r == t {
			if a := s.attempts[id]; a != nil { // nil once the attempt has returned
				a.Cancel(err)
			}
			return
		}
	}
}
