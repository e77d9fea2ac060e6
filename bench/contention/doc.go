// Package contention reproduces the simulation behind Marc Brooker's
// "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015; the
// simulator is aws-samples/aws-arch-backoff-simulator), running the clients
// as jobs on Rebound's scheduler with Rebound's wait strategies and jitters.
//
// # The model
//
// One server holds one row with a version number. N clients all start at
// t=0 and each wants to update the row once. One attempt of a client is:
// send a read (one network delay), the server answers the row's version at
// once (one delay back), send a write carrying that version (one delay); the
// server accepts the write only if the row still has that version, and then
// increments it; either way it answers at once (one delay back). A client
// whose write failed backs off and starts again with a fresh read. Every
// one-way message takes |Normal(10ms, sd 2ms)|.
//
// Measures: calls = writes that reach the server, failed and successful;
// time = when the last client gets its success reply.
//
// Backoff (base 5ms, cap 2s, the attempt counter n is 1 for the first
// retry, as in the simulator):
//
//	none          no wait:                    wait.Constant(0)
//	exponential   min(cap, base*2^n):         wait.Exponential(10ms, 2, 2s) + jitter.None
//	full          uniform(0, expo):           wait.Exponential(10ms, 2, 2s) + jitter.Full
//	equal         expo/2 + uniform(0, expo/2): wait.Exponential(10ms, 2, 2s) + jitter.Equal
//	decorrelated  min(cap, uniform(base, 3*sleep)): wait.Decorrelated(5ms, 2s)
//
// The simulator's exponential term is base*2^n with n = 1 for the first
// retry, so its first wait is 10ms: Rebound's Exponential(b, f, max) is
// b*f^(n-1), hence a base of 10ms here. Rebound's Decorrelated follows the
// simulator exactly: sleep starts at base, so its first wait is already
// drawn from uniform(base, 3*base), and each later one from
// uniform(base, 3*prev).
//
// # Running it on Rebound
//
// Each run creates a scheduler with one worker per client (so no client
// waits for a worker: the model has none) and submits every client as a
// job with MaxAttempts(0) (unlimited). One attempt is one read-write round:
// the network delays are time.Sleep calls. Run must be called inside a
// testing/synctest bubble: time there is simulated and advances as soon as
// every goroutine is blocked, so a run takes no real waiting, and the
// scheduler's real clock, its heap timer and the clients' sleeps all read
// the bubble's clock. Each client's network and jitter draw from random
// sources seeded from the run's seed and the client's index.
package contention
