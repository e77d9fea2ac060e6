package job

import (
	"context"
	"time"

	"github.com/rebound-go/rebound/internal/core"
)

// Event is what a hook receives.
type Event struct {
	Attempt int           // the attempt that just finished, 1-based (Python backoff's tries)
	Elapsed time.Duration // since the job started
	Wait    time.Duration // OnRetry: the wait before the next attempt
	Err     error         // OnRetry: the attempt's error; OnGiveUp: the job's *Error
	Key     string        // the job's key
}

// AttemptFrom returns the number of the attempt whose context ctx is (or
// derives from), 1-based: use it for idempotency keys and logs. It returns 1
// for a context that carries no attempt number.
func AttemptFrom(ctx context.Context) int { return core.Attempt(ctx) }
