package scheduler_test

// FuzzScheduler is a model-based fuzz test of the scheduler: the fuzz input
// is decoded into a short sequence of operations (submit, try-submit,
// cancel a future, cancel a shared context, advance the clock, shut down)
// on a scheduler in a synctest bubble, and after each one the scheduler is
// compared with a simple reference model of what must (and what may) have
// happened by then:
//
//   - a job runs its first attempt when submitted; with a wait w between
//     attempts (jitter.None) it has made at most 1 + elapsed/w attempts
//     (nothing early), and each clock advance that reaches its next due time
//     forces at least one more attempt (nothing stuck);
//   - a job whose last planned attempt must have run has resolved, with the
//     outcome its plan says (nil for an operation that succeeded), unless it
//     was canceled first; a job whose last attempt has not run has not;
//   - Future.Cancel of a parked job resolves it at once with
//     context.Canceled; canceling a shared context resolves its parked jobs
//     with the context's cause; Shutdown and Close resolve the rest with
//     job.ErrClosed; a submission after them resolves with job.ErrClosed;
//   - TrySubmit fails with ErrQueueFull exactly when WithQueueSize jobs are
//     in flight;
//   - after Close, every future has resolved exactly once, hooks fired at
//     most once per event, and Stats add up and match the outcomes.
//
// synctest.Wait is the handshake between operations, and time.Sleep in the
// bubble advances the clock. Inputs are kept short (at most 30 operations
// and 8 jobs) so that a failing sequence stays readable.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

const (
	modelMaxOps  = 30
	modelMaxJobs = 8
	modelGroups  = 2
)

// The operations of the fuzz language, one byte each (mod modelOps),
// followed by their parameter bytes.
const (
	modelSubmit    = iota // kind, count, wait, ctx
	modelTrySubmit        // kind, count, wait, ctx
	modelCancel           // job index
	modelCancelCtx        // group
	modelAdvance          // step
	modelShutdown         // variant
	modelOps
)

// A job's plan.
const (
	planSucceed   = iota // fails count times, then succeeds
	planPermanent        // fails count times, then returns a Permanent error
	planExhaust          // always fails; MaxAttempts(count+1)
	planPanic            // fails count times, then panics
	planHinted           // fails count times with a Retry-After hint, then succeeds
	planAbsurd           // returns a hint above MaxWait: gives up at once
	planKinds
)

var (
	modelWaits    = []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
	modelHints    = []time.Duration{0, time.Second, 4 * time.Second}
	modelAdvances = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
	errModel      = errors.New("model: transient")
)

// modelInput reads an operation sequence's bytes; past the end it reads 0.
type modelInput struct {
	b []byte
	i int
}

func (in *modelInput) more() bool { return in.i < len(in.b) }

func (in *modelInput) next(n int) int {
	if in.i >= len(in.b) {
		return 0
	}
	v := int(in.b[in.i]) % n
	in.i++
	return v
}

// modelJob is one submitted job: its plan, what the model knows of it, and
// what was observed.
type modelJob struct {
	id     int
	kind   int
	count  int           // failures before the final attempt (planExhaust: attempts-1)
	wait   time.Duration // the wait between attempts, hints included
	group  int           // -1: context.Background
	f      *job.Future[int]
	submit time.Duration // model time of submission

	// The model.
	rejected  error         // non-nil: resolved at submission with this Reason
	stopped   error         // non-nil: canceled or closed while live, with this Reason
	stoppedAt int           // attempts made when it was stopped
	mustDue   time.Duration // the next attempt must have run once the clock reaches this
	must      int           // attempts that must have run

	// Observed.
	attempts, retries, successes, giveUps atomic.Int32
}

// final is the number of attempts the job makes if nothing stops it.
func (j *modelJob) final() int {
	if j.kind == planAbsurd {
		return 1
	}
	return j.count + 1
}

// may returns the most attempts the job may have made by model time now.
func (j *modelJob) may(now time.Duration) int {
	if j.wait == 0 {
		return j.final()
	}
	return min(j.final(), 1+int((now-j.submit)/j.wait))
}

// op is the job's operation: it follows the plan, attempt by attempt.
func (j *modelJob) op(context.Context) (int, error) {
	n := int(j.attempts.Add(1))
	last := n >= j.final()
	switch j.kind {
	case planSucceed:
		if last {
			return j.id, nil
		}
	case planPermanent:
		if last {
			return 0, job.Permanent(errModel)
		}
	case planPanic:
		if last {
			panic(fmt.Sprintf("model: job %d panics", j.id))
		}
	case planHinted:
		if last {
			return j.id, nil
		}
		return 0, job.RetryAfter(errModel, modelHints[j.count%len(modelHints)])
	case planAbsurd:
		return 0, job.RetryAfter(errModel, 2*time.Hour)
	}
	return 0, errModel
}

// wantReason is the Reason the job must end with when nothing stops it
// (nil: success).
func (j *modelJob) wantReason() error {
	switch j.kind {
	case planPermanent, planPanic:
		return job.ErrPermanent
	case planExhaust:
		return job.ErrExhausted
	case planAbsurd:
		return job.ErrDeadline
	}
	return nil
}

// modelRun is one fuzz input's run.
type modelRun struct {
	t         *testing.T
	s         *scheduler.Scheduler
	queue     int
	start     time.Time     // the bubble's time at the start
	now       time.Duration // model time since the start
	jobs      []*modelJob
	groupCtx  [modelGroups]context.Context
	groupStop [modelGroups]context.CancelCauseFunc
	groupErr  [modelGroups]error
	closed    bool
	queueFull int
	log       []string
}

func (r *modelRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf("%v: ", r.now)+fmt.Sprintf(format, args...))
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\nstats %+v\noperations:\n\t%s", fmt.Sprintf(format, args...), r.s.Stats(), joinLines(r.log))
}

func joinLines(lines []string) string {
	s := ""
	for i, l := range lines {
		if i > 0 {
			s += "\n\t"
		}
		s += l
	}
	return s
}

// live reports whether the model says j has not resolved yet.
func (r *modelRun) live(j *modelJob) bool {
	return j.rejected == nil && j.stopped == nil && j.must < j.final()
}

// inFlight counts the jobs the model says hold a place in the scheduler.
func (r *modelRun) inFlight() int {
	n := 0
	for _, j := range r.jobs {
		if j.rejected == nil && j.stopped == nil && !isDone(j.f.Done()) {
			n++
		}
	}
	return n
}

func (r *modelRun) submit(in *modelInput, try bool) {
	j := &modelJob{
		id:    len(r.jobs),
		kind:  in.next(planKinds),
		count: in.next(4),
		wait:  modelWaits[in.next(len(modelWaits))],
		group: in.next(modelGroups+1) - 1,
	}
	j.submit = r.now
	if j.kind == planHinted {
		j.wait = max(j.wait, modelHints[j.count%len(modelHints)])
	}
	ctx := context.Background()
	if j.group >= 0 {
		ctx = r.groupCtx[j.group]
	}
	opts := []job.Option{
		job.Wait(wait.Constant(j.wait)), job.Jitter(jitter.None), job.MaxAttempts(0),
		job.OnRetry(func(job.Event) { j.retries.Add(1) }),
		job.OnSuccess(func(job.Event) { j.successes.Add(1) }),
		job.OnGiveUp(func(job.Event) { j.giveUps.Add(1) }),
	}
	if j.kind == planExhaust {
		opts = append(opts, job.MaxAttempts(j.count+1))
	}
	full := !r.closed && r.inFlight() >= r.queue
	canceled := j.group >= 0 && r.groupCtx[j.group].Err() != nil
	if full && !canceled {
		try = true // Submit would block the only submitter
	}
	r.logf("job %d: %s kind %d count %d wait %v group %d (full %v)", j.id, map[bool]string{false: "Submit", true: "TrySubmit"}[try], j.kind, j.count, j.wait, j.group, full)
	if try {
		f, err := scheduler.TrySubmit(r.s, ctx, j.op, opts...)
		switch {
		case full && !r.closed:
			if !errors.Is(err, scheduler.ErrQueueFull) || f != nil {
				r.fatalf("TrySubmit with %d jobs in flight (WithQueueSize(%d)) = %v, %v; want nil, ErrQueueFull", r.inFlight(), r.queue, f, err)
			}
			r.queueFull++
			return
		case r.closed:
			if !errors.Is(err, job.ErrClosed) || f != nil {
				r.fatalf("TrySubmit after Shutdown = %v, %v; want nil, ErrClosed", f, err)
			}
			return // not accepted: not submitted
		case err != nil || f == nil:
			r.fatalf("TrySubmit with %d jobs in flight (WithQueueSize(%d)) = %v, %v; want a future", r.inFlight(), r.queue, f, err)
		}
		j.f = f
	} else {
		j.f = scheduler.Submit(r.s, ctx, j.op, opts...)
	}
	r.jobs = append(r.jobs, j)
	switch {
	case r.closed:
		j.rejected = job.ErrClosed
	case canceled:
		j.rejected = r.groupErr[j.group]
	default:
		j.must = 1
		j.mustDue = r.now + j.wait
		if j.wait == 0 {
			j.must = j.final()
		}
	}
	if j.rejected != nil && !isDone(j.f.Done()) {
		r.fatalf("job %d: submitted with Reason %v due, but its future is not resolved at once", j.id, j.rejected)
	}
}

func (r *modelRun) cancel(in *modelInput) {
	if len(r.jobs) == 0 {
		return
	}
	j := r.jobs[in.next(len(r.jobs))]
	wasDone := isDone(j.f.Done())
	r.logf("job %d: Cancel (resolved already: %v)", j.id, wasDone)
	if live := r.live(j); live == wasDone {
		r.fatalf("job %d: the model says live %v, but its future says resolved %v", j.id, live, wasDone)
	}
	j.f.Cancel()
	if wasDone {
		return
	}
	if !isDone(j.f.Done()) {
		r.fatalf("job %d: Cancel of a parked job did not resolve it at once", j.id)
	}
	j.stopped, j.stoppedAt = context.Canceled, int(j.attempts.Load())
}

func (r *modelRun) cancelCtx(in *modelInput) {
	g := in.next(modelGroups)
	if r.groupCtx[g].Err() != nil {
		return
	}
	r.logf("group %d: cancel", g)
	r.groupStop[g](r.groupErr[g])
	for _, j := range r.jobs {
		if j.group != g || !r.live(j) {
			continue
		}
		// The context's callback runs on a goroutine of its own.
		select {
		case <-j.f.Done():
		case <-time.After(10 * time.Second):
			r.fatalf("job %d: not resolved 10s after its context was canceled", j.id)
		}
		j.stopped, j.stoppedAt = r.groupErr[g], int(j.attempts.Load())
	}
}

// advance moves the bubble's fake time on (the model runs inside
// synctest.Test: time.Sleep returns once every goroutine of the bubble is
// blocked and the clock has jumped d, no real time passes).
func (r *modelRun) advance(in *modelInput) {
	d := modelAdvances[in.next(len(modelAdvances))]
	time.Sleep(d)
	r.now = time.Since(r.start)
	r.logf("advance %v", d)
	for _, j := range r.jobs {
		// One forced attempt per advance at most: the retry after it may
		// be parked from any point of the advance.
		if r.live(j) && r.now >= j.mustDue {
			j.must++
			j.mustDue = r.now + j.wait
		}
	}
}

func (r *modelRun) shutdown(in *modelInput) {
	variant := in.next(3)
	live := 0
	for _, j := range r.jobs {
		if r.live(j) {
			live++
		}
	}
	r.logf("shutdown variant %d (%d live)", variant, live)
	switch variant {
	case 0:
		r.s.Close()
	case 1:
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.s.Shutdown(ctx); !errors.Is(err, context.Canceled) && !(err == nil && live == 0) {
			r.fatalf("Shutdown(canceled ctx) = %v with %d live jobs", err, live)
		}
	case 2:
		// Nothing comes due in 5ms (due times are whole multiples of
		// 500ms): Shutdown returns nil only if no job is left.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := r.s.Shutdown(ctx)
		cancel()
		r.now = time.Since(r.start)
		if (err == nil && live != 0) || (err != nil && !errors.Is(err, context.DeadlineExceeded)) {
			r.fatalf("Shutdown(5ms) = %v with %d live jobs", err, live)
		}
	}
	r.closed = true
	for _, j := range r.jobs {
		if r.live(j) {
			if !isDone(j.f.Done()) {
				r.fatalf("job %d: not resolved when Shutdown returned", j.id)
			}
			j.stopped, j.stoppedAt = job.ErrClosed, int(j.attempts.Load())
		}
	}
}

// check compares the scheduler, settled, with the model.
func (r *modelRun) check() {
	r.t.Helper()
	live := 0
	for _, j := range r.jobs {
		a := int(j.attempts.Load())
		done := isDone(j.f.Done())
		switch {
		case j.rejected != nil:
			if a != 0 {
				r.fatalf("job %d: rejected at submission (%v), but %d attempts ran", j.id, j.rejected, a)
			}
			continue
		case j.stopped != nil:
			if a != j.stoppedAt {
				r.fatalf("job %d: %d attempts ran after it was stopped (%v) at %d", j.id, a-j.stoppedAt, j.stopped, j.stoppedAt)
			}
			continue
		}
		if a > j.may(r.now) {
			r.fatalf("job %d (wait %v, submitted at %v): %d attempts by %v, at most %d may have run: a retry ran early", j.id, j.wait, j.submit, a, r.now, j.may(r.now))
		}
		if a < min(j.must, j.final()) {
			r.fatalf("job %d (wait %v, submitted at %v): %d attempts by %v, at least %d must have run: a retry is stuck", j.id, j.wait, j.submit, a, r.now, j.must)
		}
		if a >= j.final() != done {
			r.fatalf("job %d: %d of %d attempts ran, but resolved = %v", j.id, a, j.final(), done)
		}
		if !done {
			live++
			continue
		}
		j.must = j.final() // resolved by its own verdict
	}
	st := r.s.Stats()
	if st.Queued != 0 || st.Running != 0 || st.Parked+st.Waiting != live {
		r.fatalf("settled with %d live jobs, but Stats say %d queued, %d running, %d parked, %d waiting", live, st.Queued, st.Running, st.Parked, st.Waiting)
	}
	statsAddUp(r.t, st)
}

// finish closes the scheduler and checks every job's outcome.
func (r *modelRun) finish() {
	r.t.Helper()
	r.s.Close()
	for _, j := range r.jobs {
		if r.live(j) {
			j.stopped, j.stoppedAt = job.ErrClosed, int(j.attempts.Load())
		}
	}
	var succeeded, gaveUp, canceled uint64
	for _, j := range r.jobs {
		if !isDone(j.f.Done()) {
			r.fatalf("job %d: not resolved after Close", j.id)
		}
		v, err := j.f.Wait(context.Background())
		succ, gave, retr, att := j.successes.Load(), j.giveUps.Load(), j.retries.Load(), j.attempts.Load()
		if succ+gave > 1 || retr > att {
			r.fatalf("job %d: hooks OnSuccess %d, OnGiveUp %d, OnRetry %d for %d attempts", j.id, succ, gave, retr, att)
		}
		want := j.rejected
		if want == nil {
			want = j.stopped
		}
		if want == nil {
			want = j.wantReason()
			if succ+gave != 1 || retr != att-1 {
				r.fatalf("job %d ended by its verdict with hooks OnSuccess %d, OnGiveUp %d, OnRetry %d for %d attempts", j.id, succ, gave, retr, att)
			}
		} else if succ != 0 || retr > att {
			r.fatalf("job %d: stopped (%v) but OnSuccess ran", j.id, want)
		}
		if want == nil {
			if err != nil || v != j.id {
				r.fatalf("job %d: its operation succeeded and it was never canceled, but Wait() = %d, %v", j.id, v, err)
			}
			if int(att) != j.final() {
				r.fatalf("job %d: %d attempts, want %d", j.id, att, j.final())
			}
			succeeded++
			continue
		}
		var e *job.Error
		if !errors.As(err, &e) || e.Reason != want {
			r.fatalf("job %d: err = %v, want Reason %v", j.id, err, want)
		}
		if e.Attempts != int(att) {
			r.fatalf("job %d: Error.Attempts = %d, but %d attempts ran", j.id, e.Attempts, att)
		}
		if att > 0 && !errors.Is(err, errModel) && j.kind != planPanic {
			r.fatalf("job %d: err = %v does not keep the last attempt's error", j.id, err)
		}
		var pe *job.PanicError
		if j.kind == planPanic && want == job.ErrPermanent && !errors.As(err, &pe) {
			r.fatalf("job %d: err = %v, want a *job.PanicError", j.id, err)
		}
		switch want {
		case job.ErrPermanent, job.ErrExhausted, job.ErrDeadline:
			gaveUp++
		default:
			canceled++
		}
	}
	st := r.s.Stats()
	statsAddUp(r.t, st)
	if st.Submitted != uint64(len(r.jobs)) || st.Succeeded != succeeded || st.GaveUp != gaveUp || st.Canceled != canceled {
		r.fatalf("Stats: Submitted %d, Succeeded %d, GaveUp %d, Canceled %d; the futures say %d, %d, %d, %d",
			st.Submitted, st.Succeeded, st.GaveUp, st.Canceled, len(r.jobs), succeeded, gaveUp, canceled)
	}
}

func runModel(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	in := &modelInput{b: data}
	r := &modelRun{t: t, queue: 2 + in.next(7), start: time.Now()}
	r.s = scheduler.New(scheduler.WithWorkers(2),
		scheduler.WithQueueSize(r.queue), scheduler.WithGrace(time.Second))
	defer r.s.Close()
	for g := range modelGroups {
		r.groupErr[g] = fmt.Errorf("model: group %d canceled", g)
		ctx, cancel := context.WithCancelCause(context.Background())
		r.groupCtx[g], r.groupStop[g] = ctx, cancel
		defer cancel(nil)
	}
	for ops := 0; ops < modelMaxOps && in.more(); ops++ {
		switch op := in.next(modelOps); op {
		case modelSubmit, modelTrySubmit:
			if len(r.jobs) >= modelMaxJobs {
				continue
			}
			r.submit(in, op == modelTrySubmit)
		case modelCancel:
			r.cancel(in)
		case modelCancelCtx:
			r.cancelCtx(in)
		case modelAdvance:
			r.advance(in)
		case modelShutdown:
			if r.closed {
				continue
			}
			r.shutdown(in)
		}
		synctest.Wait()
		r.check()
	}
	r.finish()
	if testing.Verbose() {
		t.Logf("operations:\n\t%s", joinLines(r.log))
	}
}

func FuzzScheduler(f *testing.F) {
	// Seeds: op bytes followed by their parameters (see the constants).
	const (
		sub, try, cnl, cctx, adv, shut = modelSubmit, modelTrySubmit, modelCancel, modelCancelCtx, modelAdvance, modelShutdown
	)
	seeds := [][]byte{
		{6, sub, planSucceed, 2, 1, 0, adv, 1, adv, 1, adv, 1},                                       // fails twice, 1s apart
		{0, sub, planSucceed, 0, 0, 0, sub, planSucceed, 3, 0, 0, sub, planSucceed, 3, 3, 0, adv, 3}, // full queue of 2: TrySubmit
		{6, sub, planExhaust, 2, 2, 1, sub, planPermanent, 1, 1, 2, adv, 2, cctx, 0, adv, 3},
		{6, sub, planPanic, 3, 1, 0, sub, planHinted, 2, 0, 0, adv, 3, adv, 3, cnl, 1, adv, 3, adv, 3},
		{6, sub, planAbsurd, 0, 1, 0, sub, planSucceed, 3, 3, 2, cctx, 1, sub, planSucceed, 0, 0, 2},
		{6, sub, planSucceed, 3, 2, 0, adv, 2, shut, 0, sub, planSucceed, 0, 0, 0, try, planSucceed, 0, 0, 0},
		{6, sub, planSucceed, 3, 3, 0, adv, 0, shut, 2, adv, 3},
		{6, sub, planSucceed, 0, 0, 0, shut, 2},
		{6, try, planHinted, 3, 0, 1, adv, 3, adv, 3, adv, 3, adv, 3, shut, 1},
		{6, sub, planSucceed, 1, 3, 0, sub, planSucceed, 1, 2, 0, sub, planSucceed, 1, 1, 0, adv, 3, adv, 3},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) { runModel(t, data) })
	})
}
