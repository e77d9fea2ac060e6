package scheduler

// Stats is a snapshot of a scheduler's counters. Every submitted job is
// counted once when it ends: Submitted = Succeeded + GaveUp + Canceled + in
// flight (Queued + Running + Parked + Waiting + Paced).
type Stats struct {
	Queued     int // waiting for a worker
	Running    int // on a worker
	Parked     int // waiting for a retry (or a key's pause) on the timer heap
	Waiting    int // waiting for a slot of their key (WithKeyLimit)
	Paced      int // waiting on the timer heap for their key's rate to give them a token
	PausedKeys int // keys paused by a Retry-After hint now
	Keys       int // keys the scheduler keeps state for

	Submitted    uint64 // jobs submitted (TrySubmit's ErrQueueFull not counted)
	Succeeded    uint64
	Retried      uint64 // retries scheduled
	GaveUp       uint64 // ended by the policy: exhausted, deadline, permanent, budget
	Canceled     uint64 // ended by their context, Future.Cancel, Shutdown or Close
	BudgetDenied uint64 // retries denied by the retry budget (each also in GaveUp)
	Abandoned    uint64 // attempts abandoned (each job also in Canceled or GaveUp)
	Pauses       uint64 // Retry-After hints that paused a key
}

// Stats returns a snapshot of the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

// statsLocked is Stats with mu held.
func (s *Scheduler) statsLocked() Stats {
	st := s.st
	st.Submitted = s.submitted.Load() // before admitted: a job counted here is in flight below
	st.Running = s.running
	st.Paced = s.nPaced
	st.Parked = len(s.heap)
	for _, ks := range s.keys {
		if ks.head != nil && ks.head.state == sPaced {
			st.Parked-- // a paced head is on the heap
		}
	}
	st.Keys = len(s.keys)
	st.Waiting = s.nWaiting
	now := s.now()
	for _, ks := range s.keys {
		if ks.paused > now {
			st.PausedKeys++
		}
	}
	st.Queued = int(s.admitted.Load()) - st.Running - st.Parked - st.Waiting - st.Paced
	if st.Queued < 0 {
		st.Queued = 0
	}
	return st
}
