package scheduler

import (
	"context"
	"slices"
)

// WaitSettled blocks until the scheduler is settled or ctx is done: no job
// queued or running, and the timer heap's timer armed for the earliest
// parked job. Tests that drive a scheduler with a clock mock call it before
// each mock.Add, so that every retry the advance makes due is on the heap
// and the timer is registered with the mock:
//
//	s.WaitSettled(ctx)
//	mock.Add(time.Second)
//	s.WaitSettled(ctx)
//
// It returns ctx's error when ctx ends first.
func (s *Scheduler) WaitSettled(ctx context.Context) error {
	return s.waitUntil(ctx, s.settled)
}

// waiter is a goroutine blocked in waitUntil.
type waiter struct {
	cond func() bool // evaluated with mu held
	ch   chan struct{}
}

// waitUntil blocks until cond, evaluated with mu held after each change of
// the scheduler's state, holds, or ctx is done.
func (s *Scheduler) waitUntil(ctx context.Context, cond func() bool) error {
	s.mu.Lock()
	if cond() {
		s.mu.Unlock()
		return nil
	}
	w := &waiter{cond, make(chan struct{})}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		s.waiters = slices.DeleteFunc(s.waiters, func(x *waiter) bool { return x == w })
		s.mu.Unlock()
		return ctx.Err()
	}
}

// settled reports whether nothing is queued or running and the heap's timer
// is armed for its earliest task. Called with mu.
func (s *Scheduler) settled() bool {
	if s.running > 0 || s.ready.len() > 0 || s.fresh.len() > 0 {
		return false
	}
	next := s.nextDue()
	if next != never && next <= s.now() {
		return false // due, and the timer goroutine has not moved it yet
	}
	return s.armed == next
}

// changed wakes the waitUntil callers whose condition now holds. Called
// with mu after the state changes (a task starts or ends, the timer is
// armed, a worker goes idle, a task waits for its key).
func (s *Scheduler) changed() {
	if len(s.waiters) == 0 {
		return
	}
	s.waiters = slices.DeleteFunc(s.waiters, func(w *waiter) bool {
		if w.cond() {
			close(w.ch)
			return true
		}
		return false
	})
}
