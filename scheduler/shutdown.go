package scheduler

import (
	"context"
	"time"

	"github.com/rebound-go/rebound/job"
)

// Shutdown stops intake and waits for every job to end: running, queued and
// parked jobs run to their end (parked ones when their retry is due). It
// returns nil once they all have. Submit after Shutdown has begun returns a
// future resolved with job.ErrClosed.
//
// When ctx ends first, Shutdown cancels every job left: queued and parked
// jobs end at once, running attempts see their context canceled. Their
// errors have Reason job.ErrClosed and keep the last attempt's error. It
// then waits at most WithGrace for the running attempts to return; attempts
// still running are abandoned: their futures resolve with Reason
// job.ErrClosed and Last ErrAbandoned, Stats counts them, and their
// goroutines end when the operation returns. Shutdown then returns ctx's
// error.
//
// Otherwise no goroutine of the scheduler survives Shutdown. It may be
// called more than once, and concurrently with Close.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.stopIntakeNow()
	var err error
	var stop <-chan struct{}
	if ctx != nil {
		stop = ctx.Done()
	}
	select {
	case <-s.drained:
	case <-stop:
		err = ctx.Err()
		s.cancelEverything()
		s.waitGrace()
	}
	s.stopWorkers()
	return err
}

// Close is Shutdown with a context that has already ended: it cancels every
// job now, waits at most WithGrace for running attempts, abandons the rest
// and returns. Its error is always nil.
func (s *Scheduler) Close() error {
	s.stopIntakeNow()
	s.cancelEverything()
	s.waitGrace()
	s.stopWorkers()
	return nil
}

// stopIntakeNow moves the scheduler to draining (if it is open): intake
// stops, blocked Submits give up with job.ErrClosed, and Map's submitting
// goroutines stop; it waits for those.
func (s *Scheduler) stopIntakeNow() {
	s.mu.Lock()
	if s.phase.Load() == open {
		s.phase.Store(draining)
		close(s.closing)
	}
	if s.admitted.Load() == 0 {
		s.closeDrained()
	}
	s.mu.Unlock()
	s.feeders.Wait()
}

// cancelEverything moves the scheduler to cancelling and ends every job
// with job.ErrClosed: queued, waiting and parked at once, running ones when
// their attempt returns.
func (s *Scheduler) cancelEverything() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase.Load() < cancelling {
		s.phase.Store(cancelling)
	}
	var all []*task
	for len(s.heap) > 0 {
		all = append(all, s.heap.popMin())
	}
	for t := s.ready.pop(); t != nil; t = s.ready.pop() {
		all = append(all, t)
	}
	for t := s.fresh.pop(); t != nil; t = s.fresh.pop() {
		all = append(all, t)
	}
	for _, ks := range s.keys {
		for t := ks.waiting.pop(); t != nil; t = ks.waiting.pop() {
			all = append(all, t)
		}
		for t := ks.line.pop(); t != nil; t = ks.line.pop() {
			all = append(all, t)
		}
	}
	for _, t := range all {
		switch t.state {
		case sParked:
			t.state = sQueued // already off the heap
		case sPaced: // off the heap, or never on it; its line is emptied too
			s.unpace(t)
			t.state = sQueued
		}
		if ks := s.keyOf(t); ks != nil && ks.head == t {
			ks.head = nil // its line is being emptied: no next head
		}
		s.cancel(t, stopClosed)
	}
	for _, t := range s.slots {
		if t != nil {
			s.cancel(t, stopClosed)
		}
	}
}

// waitGrace waits until every job has ended or the grace has passed, and
// then abandons the attempts still running. The grace is real time, not the
// scheduler's clock: it bounds how long user code can hold up Shutdown.
func (s *Scheduler) waitGrace() {
	if s.cfg.grace > 0 {
		tm := time.NewTimer(s.cfg.grace)
		defer tm.Stop()
		select {
		case <-s.drained:
			return
		case <-tm.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.slots {
		if t != nil {
			s.abandon(t, job.ErrClosed)
		}
	}
}

// stopWorkers moves the scheduler to stopped: the workers and the timer
// goroutine exit, and it waits for them and for context callbacks in
// flight.
func (s *Scheduler) stopWorkers() {
	s.mu.Lock()
	s.phase.Store(stopped)
	s.work.Broadcast()
	s.wakeTimer()
	s.mu.Unlock()
	s.workersDone.Wait()
	s.callbacks.Wait()
	s.mu.Lock()
	s.endQueued() // pushed as the workers left
	s.mu.Unlock()
	s.stopOnce.Do(func() {
		if b := s.obs.Load(); b != nil {
			b.o.Observe(context.Background(), Event{Kind: Stopped})
		}
	})
}
