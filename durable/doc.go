// Package durable runs Rebound's retry policies on asynq (Redis), for jobs
// that must survive a restart and spread across machines.
//
// In-process jobs are closures; a closure cannot outlive its process. A
// durable job is data: a Kind names a handler and its typed payload P and
// result R (JSON), and carries the job.Options that decide its attempts,
// waits and jitter. Producers enqueue payloads of a Kind; workers register
// one handler per Kind; neither ships code to the other.
//
//	var Resize = durable.NewKind[ResizeArgs, ResizeResult]("image:resize",
//		job.MaxAttempts(8), job.Wait(wait.Exponential(time.Second, 2, time.Minute)))
//
//	// worker process
//	w := durable.NewWorker(redis, asynq.Config{Concurrency: 16})
//	durable.Handle(w, Resize, resize) // func(ctx, ResizeArgs) (ResizeResult, error)
//	err := w.Run()
//
//	// producer process
//	c := durable.NewClient(redis)
//	f, err := durable.Enqueue(ctx, c, Resize, ResizeArgs{...})
//	res, err := f.Wait(ctx) // or later, anywhere: durable.FutureOf[ResizeResult](c, f.Queue(), f.ID())
//
// # One policy, two worlds
//
// A durable job follows the rules of package job, with these differences:
//
//   - An attempt is a call of the handler. One asynq delivery makes one or
//     more attempts: a retry whose wait is below the worker's InMemoryBelow
//     threshold (default 5s; asynq keeps retry times in whole seconds and
//     moves due retries every few seconds) waits inside the handler, on a
//     timer, while the task stays leased; a longer wait goes back to asynq's
//     retry set (a Redis sorted set scored by due time: the distributed form
//     of the scheduler's timer heap) through the worker's RetryDelayFunc.
//   - Attempts are counted across deliveries: MaxAttempts bounds the task's
//     attempts in all, whichever worker made them. Each attempt is recorded
//     in the task's result field before it starts, so one that a crash, a
//     lost lease or a shutdown cuts short still counts, and asynq's retry
//     count and IsFailure do not change the count. asynq's own MaxRetry is
//     set to twice MaxAttempts, a backstop: only deliveries that fail
//     without reaching an attempt (a worker killed while starting one, a
//     worker of the queue that has no handler for the Kind) can spend it.
//   - MaxElapsed counts from the enqueue time the producer puts in a task
//     header (its wall clock; workers' clocks should agree with it), not
//     from the first delivery: a task that waited in the queue past it
//     gives up without an attempt, and so does a retry that asynq's
//     forwarder (every DelayedTaskCheckInterval, 5s by default) delivers
//     past it. A task enqueued by plain asynq, without the header, counts
//     from its first delivery. Use asynq.Timeout to bound a delivery;
//     Enqueue refuses asynq.Deadline, which would fail every delivery after
//     it.
//   - A delivery's Timeout, a lost lease and a worker shutting down end a
//     delivery, not the job: an attempt cut short is counted but not judged
//     (no verdict, no hook). After a Timeout or a lost lease asynq retries
//     the task after the policy's delay for asynq's retry count (it tells
//     the RetryDelayFunc neither the task ID nor the hint); after a
//     shutdown asynq puts it back at once. A retry waiting in memory when
//     the worker shuts down goes back to the retry set, due when it would
//     have been.
//   - job.Permanent and a RetryIf that says no become asynq.SkipRetry: the
//     task is archived at once. A Retry-After hint is a lower bound on the
//     retry's delay (a hinted retry counts as an attempt), in memory or in
//     the retry set alike: a retry asynq delivers early (it rounds to whole
//     seconds; asynqmon's "Run" runs it at once) waits out the rest, or goes
//     back to the retry set for it, without an attempt.
//   - Hooks fire as in-process, on the worker that made the attempt, with
//     the task ID as the Event's Key, before the outcome is recorded (so
//     before any Future sees it). OnGiveUp fires whenever a task that made
//     an attempt ends, even when a delivery without one ends it (its
//     attempts used up by a cut attempt, or a retry delivered past
//     MaxElapsed). Delivery is
//     at-least-once: after a crash, a lost lease, or an outcome Redis would
//     not record, an attempt, and so a hook, may run again.
//   - job.Key, job.Clock and job.Rand do not apply (the key is the task ID;
//     a Kind is shared by every worker): NewKind panics on them.
//
// # At-least-once
//
// asynq leases an active task to its worker and extends the lease while the
// handler runs; when a worker dies, its lease expires and another worker's
// recoverer puts the task back (60 to 120 seconds after the crash: a 30s
// lease, 30s of grace, a recoverer that runs every minute). So a handler may
// run more than once for one task: make its effect idempotent, keyed by the
// task ID (job.AttemptFrom(ctx) gives the attempt number, TaskID(ctx) the
// ID). An outcome that Redis refuses to record, after tries over about 2.5
// seconds (fewer when the delivery's Timeout is near: hooks, which run
// before the outcome is recorded, spend the same time), is not an outcome:
// the task goes back to asynq marked, and the next delivery runs that
// attempt again instead of counting it. (If Redis also refuses that
// delivery's reading of the task for as long, the mark is lost and the
// attempt counts.) A recorded outcome is never run again.
//
// # Results
//
// The worker writes the outcome into the task's result field (asynq's
// ResultWriter) and the Client keeps completed tasks for a retention period
// (default 24h, KeepResults). Future.Wait polls the task with asynq's
// Inspector (a recorded outcome counts in any task state) and returns the
// handler's value, or a *job.Error whose Reason is
// job.ErrExhausted, job.ErrDeadline or job.ErrPermanent and whose Last is a
// *RemoteError with the last attempt's error text (nil if no attempt
// failed). Each delivery reads the task's record once (two Redis round
// trips) and writes it before each attempt and at the end: four round trips
// beyond asynq's own for a task that succeeds at once.
package durable
