package scheduler

import "context"

// WaitStats blocks until cond holds for the scheduler's Stats (evaluated
// after each change of its state) or ctx is done: the handshake for tests
// that must see a job reach a state, instead of polling.
func (s *Scheduler) WaitStats(ctx context.Context, cond func(Stats) bool) error {
	return s.waitUntil(ctx, func() bool { return cond(s.statsLocked()) })
}
