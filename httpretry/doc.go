// Package httpretry is net/http on Rebound: an http.RoundTripper that
// retries, and the HTTP classifier behind it.
//
//	client := httpretry.NewClient()
//	defer client.Transport.(*httpretry.Transport).Close()
//	resp, err := client.Get("https://api.example.com/items")
//
// # The model
//
// A Transport runs each request as a job on a scheduler (package
// scheduler), and each attempt of the request as an attempt of the job:
// the request's context is the job's context, its key is the request's host
// (WithKey), and its policy is the Transport's (WithPolicy; by default 4
// attempts, exponential backoff from 200 ms with full jitter, at most 1 min
// for a single wait). A failed attempt waits for its retry on the
// scheduler's timer heap, holding no goroutine and no connection. Because
// every request is a job of one scheduler, what the scheduler enforces per
// key holds across all of them: a 429's Retry-After pauses the whole host,
// not just the request that got it; WithKeyLimit, key rates and the retry
// budget count every request to the host.
//
// Classify says what a response or error means (see its documentation for
// the table): 2xx and 3xx succeed; 429, and 408, 500, 502, 503 and 504 for an
// idempotent request, are retried, not before their Retry-After; other
// statuses are final; transport errors are retried when the request is
// idempotent or provably unsent. It is exported so that operations written
// by hand (job.Do, scheduler.Submit) classify alike.
//
// # What the caller gets
//
// RoundTrip returns the last attempt's response unchanged, whatever its
// status: after the last retry of a 503, the caller sees that 503, as
// without retries (Attempts tells how many attempts were made). It returns
// an error only when no response came last: a *job.Error whose Last is the
// transport error, or whose Reason is the request context's end or
// job.ErrClosed. The final response's body is the caller's, readable however
// long the caller takes (a policy's AttemptTimeout bounds an attempt up to
// its response's headers, then the request's context alone bounds the
// body); the bodies of other attempts are drained and closed, so their
// connections are reused.
//
// # Bodies
//
// A request with GetBody (http.NewRequest sets it for in-memory bodies)
// gets a fresh body for each attempt. Another body is read into memory up to
// WithBodyLimit (1 MiB) before the first attempt; a longer one is sent once
// and its request is not retried.
//
// # Rate-limit headers
//
// "RateLimit-Remaining: 0" with RateLimit-Reset, or the X-RateLimit- pair,
// pauses the request's key until the reset, on any response: a success is
// still a success, and the next requests to the host wait (RateLimitPause).
//
// # Logging
//
// The Transport logs nothing itself. The scheduler logs retries and
// give-ups when given a logger (scheduler.WithLogger): the error of a failed
// response is a *StatusError naming the method and the URL, and its text
// passes through the scheduler's redactor like every logged text; bodies
// are never logged.
package httpretry
