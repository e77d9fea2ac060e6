// Package core is the retry state machine shared by package job (which drives
// it inline, in job.Do) and package scheduler (which drives it on a worker
// pool and parks jobs on a timer heap between attempts).
//
// It is not public API: package job defines the user-facing types and
// installs, at init, the constructors core needs for them (see Hooks).
//
// The model: a Run holds one job's retry state (attempts made, the previous
// base delay, the last error, the start and the deadline). After each attempt
// the executor asks Run.Judge for a Verdict: succeed, retry after a wait, or
// give up with a reason. The executor then confirms the verdict (Run.Retrying,
// Run.Succeeded, Run.GiveUp), which fires the policy's hooks on the calling
// goroutine. The state machine never sleeps and never starts goroutines; time
// comes in through a clock.Clock and randomness through a *rand.Rand.
package core
