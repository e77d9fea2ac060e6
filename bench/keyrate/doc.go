// Package keyrate is the experiment behind Rebound's key rates
// (scheduler.WithKeyRate, scheduler.WithAdaptiveKeyRate): one client, three
// hosts of different capacities that it does not know, and four ways of
// pacing it.
//
// # The model
//
// Three hosts ("slow", "medium", "fast") each accept requests from a token
// bucket: 20, 100 and 500 requests per second, the bucket holding 100 ms of
// capacity (2, 10 and 50 requests). A request the bucket has no token for
// is throttled: a 429, either without a hint (the operation returns
// job.Throttled(err)) or with Retry-After: 1 (job.RetryAfter(err, 1s),
// which the scheduler treats as a throttle and as a 1 s pause of the
// request's key). A server decides when a request arrives; every answer
// reaches the client one round trip (20 ms) after the request left.
//
// The client has 2,000 jobs per host, submitted at t=0 interleaved (one job
// per host in turn), on one scheduler with 64 workers. A job is one
// request, retried until it succeeds: exponential backoff from 50 ms to
// 2 s with full jitter, attempts unlimited, no wait long enough to give up.
// Jobs are keyed by host, except in the client-wide variant.
//
// # The variants
//
//	none                  no pacing: only the reactive pauses of Retry-After
//	fixed 50/s            scheduler.WithKeyRate(50, 5): the same rate for every host
//	client-wide adaptive  one adaptive limiter for all hosts, as in the AWS SDKs'
//	                      adaptive retry mode: every job has the key "client",
//	                      with scheduler.WithAdaptiveKeyRate()
//	per-key adaptive      scheduler.WithAdaptiveKeyRate(), each host its own key
//
// and side variants of per-key adaptive that a user can build without
// changing the scheduler (SideVariants): at most 32 jobs per host in the
// scheduler at once, and the tuning options AdaptiveBeta, AdaptiveScale and
// AdaptiveFloor.
//
// # Measures
//
// Per host: the share of its capacity used (successes per second over its
// busy period, its first request to its last success, divided by its
// capacity), the share of its requests that were throttled, and when the
// client got its last success. Means over seeded runs (scheduler.WithRand).
//
// # Running it on Rebound
//
// Run must be called inside a testing/synctest bubble: the servers' buckets
// read time.Now, the round trip is a time.Sleep, and the scheduler's clock
// and timers are the bubble's, so simulated time passes as soon as every
// goroutine is blocked and a run takes no real waiting, only CPU.
package keyrate
