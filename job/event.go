package job

import "time"

// Event is what a hook receives.
type Event struct {
	Attempt int           // the attempt that just finished, 1-based (Python backoff's tries)
	Elapsed time.Duration // since the job started
	Wait    time.Duration // OnRetry: the wait that follows, before the next attempt
	Err     error         // OnRetry: the attempt's error; OnGiveUp: the job's *Error
	Key     string        // the job's key
}
