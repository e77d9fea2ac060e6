// Package jitter randomises retry delays so that clients that failed together
// do not retry together.
//
// A [Jitter] turns a base delay d, computed by a strategy from package wait,
// into the delay actually waited. Jitters are values, not calls:
//
//	job.Jitter(jitter.Full)
//
// Package job applies the jitter to the strategy's delay after the strategy's
// cap (so only [Additive] and [Proportional] can wait longer than the cap). It
// never applies it to the first attempt, which runs without waiting, nor to
// strategies that randomise their own delays (wait.SelfJittered, such as
// wait.Decorrelated).
//
// Every jitter here is immutable and safe for concurrent use; randomness comes
// from the random source passed to [Jitter.Apply]. With the same seeded source
// the results are reproducible. No jitter returns a negative delay or
// overflows, whatever d is: upper bounds saturate at math.MaxInt64.
package jitter
