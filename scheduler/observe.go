package scheduler

import (
	"context"
	"time"
)

// Observer watches every job of a scheduler, whatever its policy: the one
// scheduler-wide observation point, for metrics and traces (package
// otelrebound builds on it). Set it with Observe.
//
// Its methods must be safe for concurrent use and must not block: Observe
// may be called with the scheduler's lock held (a job ending, a key
// pausing), so it must not call the scheduler either. A scheduler without an
// observer pays one atomic load per event.
type Observer interface {
	// StartAttempt is called on the worker just before attempt number
	// attempt of a job starts. ctx is the job's context; the context it
	// returns is the parent of the attempt's context (return ctx to add
	// nothing; a tracer returns ctx carrying the attempt's span) and is
	// passed to Observe with the attempt's AttemptEnded event.
	StartAttempt(ctx context.Context, key string, attempt int) context.Context
	// Observe receives every other event (see EventKind).
	Observe(ctx context.Context, e Event)
}

// EventKind says what an Event reports.
type EventKind uint8

// The events, with the Event fields each sets.
const (
	// JobSubmitted: a job was submitted (counted in Stats.Submitted). Key.
	// ctx is the job's context.
	JobSubmitted EventKind = iota + 1
	// AttemptEnded: an attempt returned and its verdict is known, before
	// any of the policy's hooks runs. Key, Attempt, Err (the attempt's
	// error; nil on success), Retry and Wait (a retry follows after Wait),
	// Reason (non-nil when the job gives up or was stopped after it). An
	// attempt abandoned while it runs (see Shutdown) ends with Abandoned
	// set, when its operation returns. ctx is the one StartAttempt
	// returned.
	AttemptEnded
	// JobEnded: a job resolved, whatever ended it. Key, Attempt (attempts
	// made), Err (the job's *job.Error; nil on success), Reason (the
	// error's Reason: job.ErrExhausted, job.ErrClosed, a context's cause,
	// ...), Canceled (its context, Future.Cancel, Shutdown or Close ended
	// it, not its policy: Stats counts it in Canceled), Abandoned (its last
	// attempt was abandoned). ctx is the job's context. Called with the
	// scheduler's lock held.
	JobEnded
	// KeyPaused: a key was paused, by a Retry-After hint or PauseKey. Key,
	// Wait (the pause). ctx is context.Background(). Called with the
	// scheduler's lock held.
	KeyPaused
	// Stopped: the scheduler has stopped (Shutdown or Close returned or is
	// about to): no event follows, not even for submissions refused after
	// it, but the AttemptEnded (Abandoned) of attempts abandoned before it,
	// as their operations return. ctx is context.Background().
	Stopped
)

// Event is what an Observer receives; see EventKind for the fields each
// kind sets.
type Event struct {
	Kind      EventKind
	Key       string
	Attempt   int
	Err       error
	Reason    error
	Retry     bool
	Wait      time.Duration
	Canceled  bool
	Abandoned bool
}

// Observe sets the scheduler's observer (nil: none), replacing any other.
// Events from then on go to it; an event being delivered as it is replaced
// may still reach the old one. It is safe for concurrent use.
func (s *Scheduler) Observe(o Observer) {
	if o == nil {
		s.obs.Store(nil)
		return
	}
	s.obs.Store(&observerBox{o})
}

// observerBox holds an Observer for an atomic pointer.
type observerBox struct{ o Observer }

// observer returns the scheduler's observer, or nil (also once the
// scheduler has stopped).
func (s *Scheduler) observer() Observer {
	if b := s.obs.Load(); b != nil && s.phase.Load() != stopped {
		return b.o
	}
	return nil
}

// emit sends e to the observer, if any.
func (s *Scheduler) emit(ctx context.Context, e Event) {
	if o := s.observer(); o != nil {
		o.Observe(ctx, e)
	}
}
