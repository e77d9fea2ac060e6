// Package otelrebound exports a scheduler's metrics and traces through
// OpenTelemetry. It is a module of its own, so that Rebound's core module
// does not depend on OpenTelemetry.
//
//	s := scheduler.New()
//	if err := otelrebound.Instrument(s, otelrebound.WithTracerProvider(tp)); err != nil {
//		return err
//	}
//
// # The model
//
// Instrument sets the scheduler's Observer (scheduler.Scheduler.Observe), the
// one point that sees every job whatever its policy, and registers one
// callback with the meter. The observer only adds to atomic tallies and
// records the two histograms: it never blocks and never calls the
// scheduler, as an Observer must not. The callback, run when a reader
// collects, reports the tallies as counters and reads Scheduler.Stats for
// the gauges. Once the scheduler has stopped, the callback is unregistered
// and reports nothing; what the histograms recorded before the stop stays
// with the SDK, as any synchronous instrument's data does.
//
// # Metrics
//
// Counters (from Instrument on; unit {job} unless said):
//
//	rebound.jobs.submitted      jobs submitted
//	rebound.jobs.succeeded      jobs that succeeded
//	rebound.jobs.gave_up        jobs the policy gave up on; rebound.reason: exhausted, deadline, permanent, budget
//	rebound.jobs.canceled       jobs canceled; rebound.reason: context (the job's context, Future.Cancel), closed (Shutdown, Close)
//	rebound.attempts            attempts started ({attempt})
//	rebound.retries             retries scheduled ({retry})
//	rebound.retries.denied      retries the retry budget denied ({retry}; each job also in gave_up, reason budget)
//	rebound.attempts.abandoned  attempts abandoned ({attempt}; see scheduler.ErrAbandoned)
//
// Gauges, read from Scheduler.Stats at each collection; they are observable
// up-down counters, the instrument OpenTelemetry's semantic conventions
// give a count of things present (a Prometheus gauge):
//
//	rebound.jobs.queued   jobs waiting for a worker
//	rebound.jobs.running  attempts running
//	rebound.jobs.parked   jobs waiting for a retry on the timer heap
//	rebound.jobs.gated    jobs waiting for a slot of their key (WithKeyLimit)
//	rebound.keys.paused   keys paused by a Retry-After hint ({key})
//
// Histograms:
//
//	rebound.retry.wait    the wait before each retry (s)
//	rebound.job.attempts  attempts per ended job ({attempt}); rebound.outcome: succeeded, gave_up, canceled
//
// # Keys and cardinality
//
// A job's key (job.Key) becomes the attribute rebound.key only for the keys
// allowed by WithKeys or WithKeyFilter; every other job is counted without
// it. Each allowed key is one more series per counter, so a million hosts
// must not all be allowed. The gauges are scheduler-wide.
//
// # Traces
//
// With WithTracerProvider, each attempt is a span named rebound.attempt,
// a child of the span in the job's context (a job submitted while a request
// is traced shows its attempts in the request's trace), and the parent of
// the span of whatever the operation does with its context. The span has
// the attributes rebound.attempt (its number), rebound.key (when allowed),
// rebound.outcome (succeeded, retry, gave_up, canceled), rebound.reason
// when the job ends with it, and error.type (the Go type of the attempt's
// error) with an error status when the attempt failed. A retry adds the
// event rebound.retry with rebound.retry.wait (seconds) and error.type. No
// error text is recorded: it may hold secrets. An abandoned attempt
// (scheduler.ErrAbandoned) reports no end, so its span is never ended nor
// exported; the job's end is still counted.
package otelrebound
