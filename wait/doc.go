// Package wait provides delay strategies: policies that say how long a job
// waits before it retries a failed attempt.
//
// A [Strategy] gives the base delay before retry n, where n is 1 after the
// first failed attempt, 2 after the second, and so on. It is computed from n
// and prev, the base delay the strategy returned for retry n-1 (0 for the
// first retry). A strategy may also answer "no more retries" by returning
// ok == false; package job then ends the job with ErrExhausted.
//
// The delay is a base delay: unless the strategy randomises its delays itself
// (it implements [SelfJittered], like [Decorrelated]), package job passes it
// through a jitter from package jitter before it waits.
//
// Strategies are immutable values holding only their construction arguments.
// Any number of jobs may share one strategy, concurrently: the per-job state
// (n, prev and the job's random source) is passed into [Strategy.Delay],
// never stored in the strategy.
//
// The built-in strategies never return a negative delay, never overflow for
// any n up to [math.MaxInt] (they saturate at their cap, or at
// math.MaxInt64 when uncapped), and, except for [Schedule] and
// [Decorrelated], never decrease as n grows. Arguments that make no sense
// (negative durations, a factor below 1, a zero base where it would pin every
// delay to zero) are programmer errors: the constructors panic with a message
// prefixed "wait: ".
package wait
