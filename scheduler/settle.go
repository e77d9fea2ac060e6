package scheduler

import "context"

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
	s.mu.Lock()
	if s.settled() {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.settle = append(s.settle, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
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

// checkSettled wakes WaitSettled callers once settled. Called with mu.
func (s *Scheduler) checkSettled() {
	if len(s.settle) == 0 || !s.settled() {
		return
	}
	for _, ch := range s.settle {
		close(ch)
	}
	s.settle = nil
}
