package job

import (
	"context"

	"github.com/rebound-go/rebound/internal/core"
)

// Future is the pending result of a job submitted to a scheduler. It is safe
// for concurrent use: any number of goroutines may wait on it. It resolves
// exactly once, whatever happens to the job. The zero value is not usable;
// futures come from package scheduler.
type Future[T any] core.Future[T]

func (f *Future[T]) core() *core.Future[T] { return (*core.Future[T])(f) }

// Done returns a channel that is closed when the job has ended.
func (f *Future[T]) Done() <-chan struct{} { return f.core().Task().Done() }

// Wait blocks until the job ends or ctx is done, whichever is first. When the
// job has ended it returns the job's value and error (nil, or a *Error). When
// ctx ends first it returns the zero value and ctx's error; the job goes on. A
// nil ctx waits without bound.
func (f *Future[T]) Wait(ctx context.Context) (T, error) { return f.core().Wait(ctx) }

// Cancel cancels the job: a waiting job ends at once; a running attempt's
// context is canceled and the job ends when the attempt returns (or, at a
// scheduler's shutdown, is abandoned). The job's error then has Reason
// context.Canceled and keeps the last attempt's error. Cancel does not wait
// for the job to end; it does nothing once the job has ended.
func (f *Future[T]) Cancel() { f.core().Task().Cancel() }

// Attempts returns the number of attempts started so far.
func (f *Future[T]) Attempts() int { return f.core().Task().Attempts() }
