package scheduler

import "errors"

var (
	// ErrQueueFull is returned by TrySubmit and TryGo when the scheduler
	// holds as many jobs as WithQueueSize allows.
	ErrQueueFull = errors.New("scheduler: queue full")

	// ErrAbandoned is the Last error of a job whose attempt was abandoned:
	// it ignored its context for WithGrace after its AttemptTimeout, or it
	// (or a hook after it) was still running when Shutdown or Close gave up
	// waiting. Its goroutine ends when the user's code returns; its result
	// is discarded.
	ErrAbandoned = errors.New("scheduler: attempt abandoned: the operation or its hooks did not return after the job was canceled")
)
