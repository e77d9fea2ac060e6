// Package scheduler runs jobs asynchronously: a bounded pool of workers runs
// attempts, and a failed attempt is parked on a timer heap until its
// jittered backoff has passed, then runs again. The caller gets a
// *job.Future.
//
//	s := scheduler.New(scheduler.WithWorkers(64))
//	defer s.Shutdown(ctx)
//	f := scheduler.Submit(s, ctx, op, policy, job.Key("api.example.com"))
//	v, err := f.Wait(ctx)
//
// # The model
//
// A job is admitted (WithQueueSize bounds the jobs admitted and not ended:
// Submit blocks, TrySubmit fails with ErrQueueFull), queued, and run by a
// worker. The job's retry logic is package job's state machine, the same as
// job.Do's. After a failed attempt the job is parked: one entry on a
// min-heap, no goroutine and no timer of its own; one goroutine owns the
// heap's one timer, armed for the earliest entry, and moves due jobs to the
// workers, ahead of new submissions. It runs no user code. Do is Submit
// and Wait in one for a caller that blocks anyway: the job's first attempt
// runs on the calling goroutine when a worker's place is free (counted
// against WithWorkers, after the same gates), and its retries on the
// workers.
//
// Cancellation flows through the job's context and Future.Cancel: a queued
// or parked job ends at once (O(log n) off the heap), a running attempt's
// context is canceled. The scheduler registers one callback per distinct
// context, not one per job.
//
// # Keys
//
// Jobs with a job.Key share per-key state: WithKeyLimit bounds the attempts
// of a key running at once (jobs of a saturated key wait without a worker,
// and other keys run past them); a Retry-After hint from an attempt pauses
// the key, so that no attempt of the key starts before the hint has passed
// (overlapping hints: the later end wins; the jobs resume spread over a
// quarter of the pause, at most 5s, not in a burst); WithRetryBudget limits
// retries per key as well as scheduler-wide. A canceled job of a paused or
// saturated key ends at once like any waiting job. Key state is dropped as
// soon as the key is idle.
//
// Key rates pace a key before it throttles: WithKeyRate (and SetKeyRate for
// one key) gives each key a token bucket, WithAdaptiveKeyRate follows CUBIC
// per key after its first throttle (a hint, or job.Throttled). Every attempt
// of a keyed job takes a token as it starts, after its key's slot; the jobs
// of a key waiting for tokens form a line whose head waits on the heap
// until the key's bucket holds one. PauseKey pauses a key from outside a
// job.
//
// What an attempt's end means for other jobs (its key's pause, an adaptive
// key's rate, a retry's budget token and due time) takes effect as the
// attempt returns, before any hook, log line or observer runs.
//
// # Observing
//
// Observe sets the one scheduler-wide Observer (package otelrebound builds
// OpenTelemetry metrics and traces on it): every job's submission,
// attempts, verdicts and end, and key pauses, whatever its policy's hooks.
//
// # Guarantees
//
// Every submitted job's future resolves exactly once, whatever happens:
// success, give-up, cancellation, Shutdown, Close, or an abandoned attempt.
// After Shutdown or Close returns, no goroutine of the scheduler is left
// but those of abandoned attempts, which end when the operation returns.
// Hooks and the operation run on workers, never on the timer goroutine.
//
// # Testing with a clock mock
//
// WithClock takes a github.com/benbjohnson/clock Clock. WaitSettled waits
// until nothing is queued or running and the heap's timer is armed, the
// handshake before each mock.Add.
package scheduler
