// Package job is Rebound's user-facing retry API: what to retry (an operation
// func(ctx) (T, error)), how (a Policy built from Options), and what comes
// back (a value, or a *Error saying why the job gave up).
//
// # Running a job
//
// Do runs a job inline, in the caller's goroutine: attempt, and after a
// failure wait the policy's jittered delay, then attempt again, until the
// operation succeeds or the policy gives up. Wrap turns a function into a
// retrying function of the same type, like Python's backoff decorator.
// Package scheduler runs the same state machine asynchronously: a bounded
// worker pool, retries parked on a timer heap, a Future per job.
//
// # Policies
//
// Options apply left to right over the defaults (on a scheduler, its
// WithDefaults first):
//
//	MaxAttempts(10)                          10 attempts in all, the first included
//	Wait(wait.Exponential(100ms, 2, 30s))    base delay before retry n
//	Jitter(jitter.Full)                      delay waited: uniform in [0, base]
//	MaxWait(time.Hour)                       ceiling on one wait, Retry-After hints included
//	no MaxElapsed, no AttemptTimeout, every error retried but Permanent ones
//
// NewPolicy builds an immutable *Policy once. A Policy is itself an Option
// that sets exactly the fields that were set when it was built; passed as the
// only policy option (a Key, Clock or Rand beside it is fine), it is shared by
// pointer, not copied: a million parked jobs carry one policy, and applying
// it allocates nothing. That is the cheap path; building options per call is
// the convenient one.
//
// # Rules
//
//   - No wait before the first attempt, and no jitter on it.
//   - An attempt never starts on a done context: Do on a canceled ctx makes
//     no attempt.
//   - MaxElapsed counts from the call (from submission, on a scheduler) on the
//     monotonic clock, and also bounds each attempt's context.
//   - A job never sleeps past its deadline (the earlier of start+MaxElapsed
//     and the ctx's deadline): when the next attempt would start after it,
//     the job gives up at once with ErrDeadline.
//   - An attempt's own timeout (AttemptTimeout), or any context error the
//     operation returns while the job's own context is alive, is an ordinary
//     retryable error; the job's own context being done is final.
//   - Permanent errors and a RetryIf that says no end the job with
//     ErrPermanent; RetryIf cannot override Permanent or cancellation.
//   - A Retry-After hint (RetryAfter, or any error in the chain with a
//     RetryAfter() time.Duration method) is a lower bound on the wait:
//     wait = max(hint, jittered delay). A hint above MaxWait, or a wait that
//     would end past the deadline, gives up at once with ErrDeadline.
//   - A panic in the operation becomes a permanent *PanicError.
//
// # Hooks
//
// OnRetry, OnGiveUp and OnSuccess run on the goroutine that ran the attempt
// that just finished, before the result is returned (or the future
// resolves), at most once per event. A job that ends while no attempt is
// running (canceled or closed while it waits) fires no hook. A hook that
// panics is recovered; the job's outcome does not change.
//
// # Time and randomness
//
// Both are inputs: Clock sets the clock Do and Wrap use (a
// github.com/benbjohnson/clock mock in tests) and Rand the random source of
// the jitter. A policy that needs no time (no MaxElapsed, AttemptTimeout or
// hooks) reads no clock until an attempt fails, so Do's success path costs a
// call and no allocation; Error.Elapsed then counts from the first failure.
//
// # Running a Policy on your own executor
//
// Do and package scheduler are two executors of one state machine; the
// stepping API lets any other executor (a consumer of SQS, Kafka or a
// database table, package durable's asynq worker) run a Policy with the same
// semantics, using only this package:
//
//   - Configure resolves a job's options (over a base policy) into its
//     Policy and per-job data, as Do and Submit do.
//   - Run is one job's retry state. Start it when the job is submitted, or
//     Resume it with the start time, the attempts made and the previous base
//     delay that your queue kept; Begin counts each attempt.
//   - Call runs one attempt: it builds the attempt's context (its timeout,
//     its number for AttemptFrom; an executor that cancels running attempts
//     passes an Attempt of its own), recovers a panic and applies
//     RetryOnResult.
//   - Judge turns the attempt's Outcome into a Decision: success, a retry
//     after Wait (your queue's redelivery delay), or giving up with a
//     Reason. Fail builds the final *Error; Retrying, Succeeded and GaveUp
//     fire the hooks, which run wherever the executor calls them.
//   - Promise and Future, for an executor that hands out futures.
//
// See the Stepping example.
package job
