package scheduler_test

// Fault tests: user code that misbehaves (hooks that panic or block, a
// RetryIf or a strategy that panics, strategies that return negative or
// enormous delays, operations that ignore their context) and clock faults
// (a mock clock that jumps forward by days, or backward). Each fault has a
// documented outcome; in every case the scheduler keeps serving other jobs
// and Close returns.
//
// The helpers of this file (prefix fx) are shared by chaos_test.go,
// load_test.go, badinput_test.go and model_fuzz_test.go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

var errFx = errors.New("fx: transient")

// fxSettle waits until s is settled (the handshake before a mock.Add),
// failing t after 10s of real time.
func fxSettle(t testing.TB, s *scheduler.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitSettled(ctx); err != nil {
		t.Fatalf("WaitSettled: %v (stats %+v)", err, s.Stats())
	}
}

// fxDone reports whether ch is closed.
func fxDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// fxWait waits for f for at most 10s of real time.
func fxWait[T any](t testing.TB, f *job.Future[T]) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := f.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("future not resolved after 10s")
	}
	return v, err
}

// fxJobError returns err as a *job.Error, failing t if it is not one.
func fxJobError(t testing.TB, err error) *job.Error {
	t.Helper()
	var e *job.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *job.Error", err, err)
	}
	return e
}

// fxStatsAddUp checks Submitted = Succeeded + GaveUp + Canceled + in flight.
func fxStatsAddUp(t testing.TB, st scheduler.Stats) {
	t.Helper()
	inflight := uint64(st.Queued + st.Running + st.Parked + st.Waiting)
	if sum := st.Succeeded + st.GaveUp + st.Canceled + inflight; sum != st.Submitted {
		t.Errorf("Stats do not add up: Submitted %d != Succeeded %d + GaveUp %d + Canceled %d + in flight %d (%+v)",
			st.Submitted, st.Succeeded, st.GaveUp, st.Canceled, inflight, st)
	}
}

// fxEnded checks that s, closed, holds no job and that its Stats add up.
func fxEnded(t testing.TB, s *scheduler.Scheduler) scheduler.Stats {
	t.Helper()
	st := s.Stats()
	if st.Queued+st.Running+st.Parked+st.Waiting != 0 {
		t.Errorf("after Close: jobs still in flight: %+v", st)
	}
	fxStatsAddUp(t, st)
	return st
}

// fxPanic runs f and returns the message it panicked with.
func fxPanic(f func()) (msg string, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			msg, panicked = fmt.Sprint(v), true
		}
	}()
	f()
	return "", false
}

// fxCloseWithin closes s and fails t if Close takes longer than limit.
func fxCloseWithin(t testing.TB, s *scheduler.Scheduler, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Close()
	}()
	select {
	case <-done:
	case <-time.After(limit + 10*time.Second):
		t.Fatalf("Close did not return within %v", limit+10*time.Second)
	}
	took := time.Since(start)
	if took > limit {
		t.Errorf("Close took %v, want at most %v", took, limit)
	}
	return took
}

// fxNoLeak fails t if goroutines other than those in ignore (taken with
// goleak.IgnoreCurrent at the start of the test) are still running; goleak
// retries for a while, so goroutines on their way out are not reported.
func fxNoLeak(t testing.TB, ignore goleak.Option) int {
	t.Helper()
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines leaked: %v", err)
		return 1
	}
	return 0
}

// fxServes checks that s still runs new jobs to success.
func fxServes(t testing.TB, s *scheduler.Scheduler, n int) {
	t.Helper()
	fs := make([]*job.Future[int], n)
	for i := range fs {
		fs[i] = scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return i, nil })
	}
	for i, f := range fs {
		if v, err := fxWait(t, f); v != i || err != nil {
			t.Errorf("job %d on a scheduler with a faulty job: %d, %v; want %d, nil", i, v, err, i)
		}
	}
}

// fxFailThen returns an operation that fails n times and then returns v.
func fxFailThen(n int32, v int) (func(context.Context) (int, error), *atomic.Int32) {
	calls := new(atomic.Int32)
	return func(context.Context) (int, error) {
		if calls.Add(1) <= n {
			return 0, errFx
		}
		return v, nil
	}, calls
}

// fxStrategy is a wait.Strategy that passes the function's delay through
// unchanged (wait.Func would clamp a negative one before the scheduler sees
// it).
type fxStrategy func(n int) (time.Duration, bool)

func (f fxStrategy) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) { return f(n) }

// fxJitter is a jitter.Jitter that passes the function's delay through
// unchanged.
type fxJitter func(d time.Duration) time.Duration

func (f fxJitter) Apply(d time.Duration, _ *rand.Rand) time.Duration { return f(d) }

// ---- hooks ----------------------------------------------------------------

// A panic in a hook is recovered and does not change the job's outcome; the
// other hooks of the job still run, and the scheduler goes on serving.
func TestFaultHookPanics(t *testing.T) {
	boom := func(job.Event) { panic("hook boom") }
	tests := []struct {
		name      string
		failures  int32
		permanent bool
		hook      job.Option
		wantErr   error // nil: success
	}{
		{"OnRetry panics, job succeeds", 2, false, job.OnRetry(boom), nil},
		{"OnSuccess panics, job succeeds", 0, false, job.OnSuccess(boom), nil},
		{"OnGiveUp panics, job exhausted", 100, false, job.OnGiveUp(boom), job.ErrExhausted},
		{"OnGiveUp panics, job permanent", 0, true, job.OnGiveUp(boom), job.ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			s := scheduler.New(scheduler.WithWorkers(2))
			var retries, gaveUp, succeeded atomic.Int32
			count := []job.Option{
				job.OnRetry(func(job.Event) { retries.Add(1) }),
				job.OnGiveUp(func(job.Event) { gaveUp.Add(1) }),
				job.OnSuccess(func(job.Event) { succeeded.Add(1) }),
			}
			op, calls := fxFailThen(tt.failures, 7)
			if tt.permanent {
				op = func(context.Context) (int, error) { calls.Add(1); return 0, job.Permanent(errFx) }
			}
			// Both the counting hooks and the panicking one: the panicking
			// one replaces its counterpart, the others still count.
			opts := append(count, job.MaxAttempts(3), job.Wait(wait.Constant(0)), tt.hook)
			f := scheduler.Submit(s, context.Background(), op, opts...)
			v, err := fxWait(t, f)
			switch {
			case tt.wantErr == nil && (v != 7 || err != nil):
				t.Errorf("Wait() = %d, %v; want 7, nil", v, err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Wait() error = %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil && !errors.Is(err, errFx):
				t.Errorf("Wait() error = %v, want it to keep the last error %v", err, errFx)
			}
			if n := calls.Load(); tt.wantErr == nil && n != tt.failures+1 {
				t.Errorf("attempts = %d, want %d", n, tt.failures+1)
			}
			fxServes(t, s, 4)
			fxCloseWithin(t, s, time.Second)
			st := fxEnded(t, s)
			t.Logf("retry hooks %d, give-up hooks %d, success hooks %d; stats %+v", retries.Load(), gaveUp.Load(), succeeded.Load(), st)
			fxNoLeak(t, ignore)
		})
	}
}

// A hook that blocks holds its worker: it is user code on the worker. The
// other workers go on serving; Close cancels, waits the grace, abandons the
// job (Reason ErrClosed, Last ErrAbandoned) and returns. The worker's
// goroutine ends when the hook returns.
func TestFaultHookBlocks(t *testing.T) {
	for _, which := range []string{"OnSuccess", "OnRetry", "OnGiveUp"} {
		t.Run(which, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			const grace = 20 * time.Millisecond
			s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithGrace(grace))
			release := make(chan struct{})
			entered := make(chan struct{})
			var once sync.Once
			block := func(job.Event) {
				once.Do(func() { close(entered) })
				<-release
			}
			var hook job.Option
			op := func(context.Context) (int, error) { return 1, nil }
			switch which {
			case "OnSuccess":
				hook = job.OnSuccess(block)
			case "OnRetry":
				hook = job.OnRetry(block)
				op = func(context.Context) (int, error) { return 0, errFx }
			case "OnGiveUp":
				hook = job.OnGiveUp(block)
				op = func(context.Context) (int, error) { return 0, job.Permanent(errFx) }
			}
			f := scheduler.Submit(s, context.Background(), op, hook, job.Wait(wait.Constant(0)))
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("hook never called")
			}
			fxServes(t, s, 20) // on the other worker
			if fxDone(f.Done()) {
				t.Fatal("the job resolved while its hook was still blocked")
			}
			fxCloseWithin(t, s, grace+2*time.Second)
			_, err := fxWait(t, f)
			e := fxJobError(t, err)
			if e.Reason != job.ErrClosed || !errors.Is(err, scheduler.ErrAbandoned) {
				t.Errorf("blocked job: err = %v; want Reason ErrClosed, Last ErrAbandoned", err)
			}
			st := fxEnded(t, s)
			if st.Abandoned != 1 {
				t.Errorf("Stats.Abandoned = %d, want 1", st.Abandoned)
			}
			close(release)
			fxNoLeak(t, ignore)
		})
	}
}

// ---- RetryIf and strategies ------------------------------------------------

// A RetryIf that panics counts as "do not retry": the job gives up with
// ErrPermanent after the attempt, and Last keeps both the attempt's error
// and the panic (a *job.PanicError).
func TestFaultRetryIfPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := scheduler.New(scheduler.WithWorkers(2))
	var gaveUp atomic.Int32
	op, calls := fxFailThen(5, 1)
	f := scheduler.Submit(s, context.Background(), op,
		job.RetryIf(func(error) bool { panic("retryif boom") }),
		job.OnGiveUp(func(job.Event) { gaveUp.Add(1) }),
		job.Wait(wait.Constant(0)))
	_, err := fxWait(t, f)
	e := fxJobError(t, err)
	var pe *job.PanicError
	switch {
	case e.Reason != job.ErrPermanent:
		t.Errorf("Reason = %v, want ErrPermanent", e.Reason)
	case !errors.Is(err, errFx):
		t.Errorf("err = %v, want it to keep the attempt's error", err)
	case !errors.As(err, &pe) || pe.Value != "retryif boom":
		t.Errorf("err = %v, want a *job.PanicError with the RetryIf panic", err)
	case calls.Load() != 1 || e.Attempts != 1:
		t.Errorf("attempts = %d (op called %d times), want 1", e.Attempts, calls.Load())
	case gaveUp.Load() != 1:
		t.Errorf("OnGiveUp called %d times, want 1", gaveUp.Load())
	}
	fxServes(t, s, 4)
	fxCloseWithin(t, s, time.Second)
	if st := fxEnded(t, s); st.GaveUp != 1 {
		t.Errorf("Stats.GaveUp = %d, want 1", st.GaveUp)
	}
	fxNoLeak(t, ignore)
}

// Strategies and jitters that misbehave: a panic ends the job (ErrExhausted,
// the panic kept in Last); a negative delay counts as 0 (retry at once); an
// enormous delay is cut to MaxWait (default 1h), and a wait that would pass
// the job's deadline ends the job with ErrDeadline without parking it; with
// MaxWait(0) (no ceiling) the job stays parked until it is canceled. A
// negative jitter counts as 0, a panicking jitter as no jitter.
func TestFaultStrategy(t *testing.T) {
	enormous := fxStrategy(func(int) (time.Duration, bool) { return math.MaxInt64, true })
	tests := []struct {
		name     string
		opts     []job.Option
		wantWait time.Duration // the first OnRetry's Event.Wait; -1: no retry
		// advance is how far the mock must go for the retry to run; the
		// test first checks that advance-1ns does not run it.
		advance       time.Duration
		wantReason    error // nil: the job succeeds on its second attempt
		wantPanic     bool
		parkedForever bool
	}{
		{
			name:       "strategy panics",
			opts:       []job.Option{job.Wait(fxStrategy(func(int) (time.Duration, bool) { panic("strategy boom") }))},
			wantWait:   -1,
			wantReason: job.ErrExhausted,
			wantPanic:  true,
		},
		{
			name:     "strategy returns -1h",
			opts:     []job.Option{job.Wait(fxStrategy(func(int) (time.Duration, bool) { return -time.Hour, true }))},
			wantWait: 0,
		},
		{
			name:     "strategy returns MinInt64",
			opts:     []job.Option{job.Wait(fxStrategy(func(int) (time.Duration, bool) { return math.MinInt64, true })), job.Jitter(jitter.None)},
			wantWait: 0,
		},
		{
			name:     "strategy returns MaxInt64: cut to the default MaxWait",
			opts:     []job.Option{job.Wait(enormous), job.Jitter(jitter.None)},
			wantWait: time.Hour,
			advance:  time.Hour,
		},
		{
			name:     "strategy returns MaxInt64, Full jitter: at most MaxWait",
			opts:     []job.Option{job.Wait(enormous), job.MaxWait(time.Minute)},
			wantWait: time.Minute, // Full jitter of MaxInt64 is below a minute with probability ~0
			advance:  time.Minute,
		},
		{
			name:       "strategy returns MaxInt64, wait passes MaxElapsed",
			opts:       []job.Option{job.Wait(enormous), job.Jitter(jitter.None), job.MaxElapsed(10 * time.Minute)},
			wantWait:   -1,
			wantReason: job.ErrDeadline,
		},
		{
			name:          "strategy returns MaxInt64, MaxWait(0): parked until Close",
			opts:          []job.Option{job.Wait(enormous), job.Jitter(jitter.None), job.MaxWait(0)},
			wantWait:      math.MaxInt64,
			parkedForever: true,
		},
		{
			name:     "jitter returns -1h",
			opts:     []job.Option{job.Wait(wait.Constant(time.Second)), job.Jitter(fxJitter(func(time.Duration) time.Duration { return -time.Hour }))},
			wantWait: 0,
		},
		{
			name:     "jitter panics: no jitter",
			opts:     []job.Option{job.Wait(wait.Constant(time.Second)), job.Jitter(fxJitter(func(time.Duration) time.Duration { panic("jitter boom") }))},
			wantWait: time.Second,
			advance:  time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			mock := clock.NewMock()
			s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithClock(mock))
			var mu sync.Mutex
			var waits []time.Duration
			opts := append([]job.Option{job.OnRetry(func(e job.Event) {
				mu.Lock()
				waits = append(waits, e.Wait)
				mu.Unlock()
			})}, tt.opts...)
			op, calls := fxFailThen(1, 5)
			f := scheduler.Submit(s, context.Background(), op, opts...)
			fxSettle(t, s)
			mu.Lock()
			got := slices.Clone(waits)
			mu.Unlock()
			switch {
			case tt.wantWait < 0 && len(got) != 0:
				t.Errorf("OnRetry waits = %v, want no retry", got)
			case tt.wantWait >= 0 && (len(got) != 1 || got[0] != tt.wantWait):
				t.Errorf("OnRetry waits = %v, want [%v]", got, tt.wantWait)
			}
			if tt.advance > 0 {
				mock.Add(tt.advance - 1)
				fxSettle(t, s)
				if n := calls.Load(); n != 1 {
					t.Errorf("retry ran %v early: %d attempts", time.Nanosecond, n)
				}
				mock.Add(1)
				fxSettle(t, s)
			}
			if tt.parkedForever {
				mock.Add(24 * 365 * time.Hour)
				fxSettle(t, s)
				if st := s.Stats(); st.Parked != 1 || fxDone(f.Done()) {
					t.Errorf("job not parked after a year: %+v", st)
				}
				fxCloseWithin(t, s, time.Second)
				_, err := fxWait(t, f)
				if e := fxJobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, errFx) {
					t.Errorf("parked job at Close: err = %v, want Reason ErrClosed keeping %v", err, errFx)
				}
				fxEnded(t, s)
				fxNoLeak(t, ignore)
				return
			}
			v, err := fxWait(t, f)
			if tt.wantReason == nil {
				if v != 5 || err != nil {
					t.Errorf("Wait() = %d, %v; want 5, nil", v, err)
				}
			} else {
				e := fxJobError(t, err)
				var pe *job.PanicError
				if e.Reason != tt.wantReason || e.Attempts != 1 || !errors.Is(err, errFx) {
					t.Errorf("err = %v (Reason %v, %d attempts), want Reason %v after 1 attempt keeping %v", err, e.Reason, e.Attempts, tt.wantReason, errFx)
				}
				if tt.wantPanic && !errors.As(err, &pe) {
					t.Errorf("err = %v, want the strategy's panic kept as a *job.PanicError", err)
				}
				if st := s.Stats(); st.Parked != 0 || st.Retried != 0 {
					t.Errorf("a job that gave up was parked or retried: %+v", st)
				}
			}
			fxServes(t, s, 2)
			fxCloseWithin(t, s, time.Second)
			fxEnded(t, s)
			fxNoLeak(t, ignore)
		})
	}
}

// ---- operations that ignore their context ---------------------------------

// An operation that ignores its context and does not return: with an
// AttemptTimeout it is abandoned AttemptTimeout + WithGrace after it started
// (Reason job.ErrDeadline, Last scheduler.ErrAbandoned, Stats.Abandoned), and
// its worker is replaced: on a one-worker scheduler the next job still runs.
// The abandoned goroutine ends when the operation returns.
func TestFaultOpIgnoresCtxAttemptTimeout(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	const timeout, grace = 5 * time.Millisecond, 5 * time.Millisecond
	s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(grace))
	release := make(chan struct{})
	var started atomic.Int32
	start := time.Now()
	f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
		started.Add(1)
		<-release // ignores ctx
		return 1, nil
	}, job.AttemptTimeout(timeout))
	_, err := fxWait(t, f)
	took := time.Since(start)
	e := fxJobError(t, err)
	if e.Reason != job.ErrDeadline || !errors.Is(e.Last, scheduler.ErrAbandoned) || e.Attempts != 1 {
		t.Errorf("err = %v (Reason %v, Last %v, %d attempts); want Reason ErrDeadline, Last ErrAbandoned, 1 attempt", err, e.Reason, e.Last, e.Attempts)
	}
	if took < timeout+grace {
		t.Errorf("abandoned after %v, before AttemptTimeout+grace = %v", took, timeout+grace)
	}
	fxServes(t, s, 10) // the one worker slot was given to a new worker
	if st := s.Stats(); st.Abandoned != 1 {
		t.Errorf("Stats.Abandoned = %d, want 1", st.Abandoned)
	}
	fxCloseWithin(t, s, time.Second)
	fxEnded(t, s)
	close(release)
	fxNoLeak(t, ignore)
	t.Logf("abandoned after %v (AttemptTimeout %v + grace %v)", took, timeout, grace)
}

// Stats documents GaveUp as "ended by the policy: exhausted, deadline, ..."
// and Abandoned as "each job also in Canceled or GaveUp": a job abandoned
// because its attempt overran AttemptTimeout + grace (Reason ErrDeadline,
// the policy's doing) belongs in GaveUp, not Canceled.
func TestFaultOverrunCountsAsGaveUp(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(0))
	release := make(chan struct{})
	f := s.Go(context.Background(), func(context.Context) error { <-release; return nil }, job.AttemptTimeout(time.Millisecond))
	_, err := fxWait(t, f)
	fxCloseWithin(t, s, time.Second)
	close(release)
	st := fxEnded(t, s)
	if e := fxJobError(t, err); e.Reason != job.ErrDeadline {
		t.Fatalf("Reason = %v, want ErrDeadline", e.Reason)
	}
	if st.GaveUp != 1 || st.Canceled != 0 {
		t.Errorf("overrun job counted as GaveUp %d, Canceled %d; want GaveUp 1, Canceled 0 (Reason is ErrDeadline)", st.GaveUp, st.Canceled)
	}
}

// At Shutdown or Close, an operation that ignores its context is abandoned
// after WithGrace: Reason job.ErrClosed, Last scheduler.ErrAbandoned. Close
// returns after the grace; Shutdown returns its ctx's error.
func TestFaultOpIgnoresCtxAtClose(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grace    time.Duration
		shutdown bool
	}{
		{"Close, grace 20ms", 20 * time.Millisecond, false},
		{"Close, grace 0", 0, false},
		{"Shutdown 10ms, grace 20ms", 20 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithGrace(tc.grace))
			release := make(chan struct{})
			running := make(chan struct{})
			f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
				close(running)
				<-release // ignores ctx
				return 1, nil
			})
			<-running
			// A parked job is canceled at once.
			parked := s.Go(context.Background(), func(context.Context) error { return errFx }, job.Wait(wait.Constant(time.Hour)))
			waitStats(t, s, "one job parked", func(st scheduler.Stats) bool { return st.Parked == 1 })
			start := time.Now()
			if tc.shutdown {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				err := s.Shutdown(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown() = %v, want DeadlineExceeded", err)
				}
			} else {
				fxCloseWithin(t, s, tc.grace+2*time.Second)
			}
			took := time.Since(start)
			if took < tc.grace {
				t.Errorf("returned after %v, before the grace %v", took, tc.grace)
			}
			_, err := fxWait(t, f)
			if e := fxJobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, scheduler.ErrAbandoned) {
				t.Errorf("hung job: err = %v; want Reason ErrClosed, Last ErrAbandoned", err)
			}
			_, err = fxWait(t, parked)
			if e := fxJobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, errFx) {
				t.Errorf("parked job: err = %v; want Reason ErrClosed keeping %v", err, errFx)
			}
			st := fxEnded(t, s)
			if st.Abandoned != 1 || st.Canceled != 2 {
				t.Errorf("Stats: Abandoned %d, Canceled %d; want 1, 2", st.Abandoned, st.Canceled)
			}
			close(release)
			fxNoLeak(t, ignore)
		})
	}
}

// An enormous AttemptTimeout means "practically none": the attempt must not
// be cut short. The watchdog that abandons an overrunning attempt is armed
// for AttemptTimeout + grace; the sum must saturate, not wrap around to a
// negative duration that fires at once.
func TestFaultHugeAttemptTimeoutDoesNotAbandon(t *testing.T) {
	for _, to := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Second, math.MaxInt64 - 5*time.Second + 1} {
		t.Run(to.String(), func(t *testing.T) {
			s := scheduler.New(scheduler.WithWorkers(1)) // default grace 5s
			defer s.Close()
			f := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
				select {
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-time.After(20 * time.Millisecond):
					return 1, nil
				}
			}, job.AttemptTimeout(to))
			if v, err := fxWait(t, f); v != 1 || err != nil {
				t.Errorf("AttemptTimeout(%v): Wait() = %d, %v; want 1, nil (st %+v)", to, v, err, s.Stats())
			}
		})
	}
}

// ---- clock faults ----------------------------------------------------------

// fxClockRig is a one-worker scheduler on a mock clock whose jobs fail their
// first attempt, wait a fixed delay, and record when their second attempt
// ran.
type fxClockRig struct {
	mock  *clock.Mock
	s     *scheduler.Scheduler
	mu    sync.Mutex
	order []int // job ids, in the order of their second attempts
	due   map[int]time.Time
	ran   map[int]time.Time
	fs    map[int]*job.Future[int]
}

func newFxClockRig(start time.Time) *fxClockRig {
	mock := clock.NewMock()
	mock.Set(start)
	return &fxClockRig{
		mock: mock,
		s:    scheduler.New(scheduler.WithWorkers(1), scheduler.WithClock(mock)),
		due:  map[int]time.Time{},
		ran:  map[int]time.Time{},
		fs:   map[int]*job.Future[int]{},
	}
}

// submit adds job id, whose retry is due d after its first attempt.
func (r *fxClockRig) submit(t *testing.T, id int, d time.Duration) {
	t.Helper()
	var calls atomic.Int32
	r.mu.Lock()
	r.due[id] = r.mock.Now().Add(d)
	r.mu.Unlock()
	r.fs[id] = scheduler.Submit(r.s, context.Background(), func(context.Context) (int, error) {
		if calls.Add(1) == 1 {
			return 0, errFx
		}
		r.mu.Lock()
		r.order = append(r.order, id)
		r.ran[id] = r.mock.Now()
		r.mu.Unlock()
		return id, nil
	}, job.Wait(wait.Constant(d)), job.Jitter(jitter.None), job.MaxWait(0))
	fxSettle(t, r.s)
}

// check verifies that no retry ran before its due time and returns how many
// have run.
func (r *fxClockRig) check(t *testing.T) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, at := range r.ran {
		if at.Before(r.due[id]) {
			t.Errorf("job %d: retry ran at %v, before it was due at %v", id, at, r.due[id])
		}
	}
	return len(r.ran)
}

// The mock clock jumps forward by days at once: every retry made due by the
// jump runs (nothing stuck), in the order of its due time (the heap fires in
// order; one worker, so the order is observable), and none before its time.
func TestFaultClockJumpsForwardDays(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	r := newFxClockRig(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 24
	var delays []time.Duration
	for id := range n {
		// From a second to 20 days, all distinct.
		d := time.Second + time.Duration(rng.Int64N(int64(20*24*time.Hour)))
		delays = append(delays, d)
		r.submit(t, id, d)
	}
	if st := r.s.Stats(); st.Parked != n {
		t.Fatalf("Parked = %d, want %d", st.Parked, n)
	}
	// Just short of the earliest due time: nothing runs.
	first := slices.Min(delays)
	r.mock.Add(first - time.Nanosecond)
	fxSettle(t, r.s)
	if got := r.check(t); got != 0 {
		t.Fatalf("%d retries ran before the earliest due time", got)
	}
	// Half of them in one jump of days, then the rest in another.
	sorted := slices.Clone(delays)
	slices.Sort(sorted)
	r.mock.Add(sorted[n/2-1] - first + time.Nanosecond)
	fxSettle(t, r.s)
	if got := r.check(t); got != n/2 {
		t.Errorf("after jumping to the %dth due time: %d retries ran, want %d (stats %+v)", n/2, got, n/2, r.s.Stats())
	}
	r.mock.Add(30 * 24 * time.Hour)
	fxSettle(t, r.s)
	if got := r.check(t); got != n {
		t.Errorf("after jumping 30 days: %d retries ran, want %d (stats %+v)", got, n, r.s.Stats())
	}
	r.mu.Lock()
	order := slices.Clone(r.order)
	r.mu.Unlock()
	if !slices.IsSortedFunc(order, func(a, b int) int { return r.due[a].Compare(r.due[b]) }) {
		t.Errorf("retries ran in the order %v, not in the order of their due times", order)
	}
	for id, f := range r.fs {
		if v, err := fxWait(t, f); v != id || err != nil {
			t.Errorf("job %d: %d, %v", id, v, err)
		}
	}
	fxCloseWithin(t, r.s, time.Second)
	if st := fxEnded(t, r.s); st.Succeeded != n || st.Retried != n {
		t.Errorf("stats %+v, want %d succeeded after one retry each", st, n)
	}
	fxNoLeak(t, ignore)
}

// The mock's wall clock jumps backward (the real clock cannot: the
// scheduler measures with the monotonic clock, so a wall-clock step does not
// reach it). A parked retry is due at a point of the clock: after a backward
// jump it does not run early, it runs once the clock reaches its due time
// again; a retry parked while the clock is behind runs at its own due time;
// nothing is stuck. "behind the start" jumps to before the time the
// scheduler was created (its epoch), where scheduler times are negative.
func TestFaultClockJumpsBackward(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ahead time.Duration // how far the clock runs before the test starts
	}{
		{"not behind the start", 48 * time.Hour},
		{"behind the start", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
			r := newFxClockRig(t0)
			r.mock.Add(tc.ahead)
			t0 = t0.Add(tc.ahead)
			r.submit(t, 0, time.Minute)
			r.submit(t, 1, 2*time.Minute)
			r.mock.Set(t0.Add(-24 * time.Hour)) // a day back
			fxSettle(t, r.s)
			r.submit(t, 2, 30*time.Second) // due at t0-24h+30s
			r.mock.Add(20 * time.Second)
			fxSettle(t, r.s)
			if got := r.check(t); got != 0 {
				t.Fatalf("%d retries ran early after the clock went back", got)
			}
			defer func() {
				fxCloseWithin(t, r.s, time.Second)
				fxEnded(t, r.s)
				fxNoLeak(t, ignore)
			}()
			r.mock.Add(10 * time.Second) // job 2's due time
			fxSettle(t, r.s)
			if got := r.check(t); got != 1 {
				t.Fatalf("at job 2's due time: %d retries ran, want 1 (stats %+v)", got, r.s.Stats())
			}
			r.mock.Set(t0.Add(time.Minute)) // job 0's due time
			fxSettle(t, r.s)
			if got := r.check(t); got != 2 {
				t.Fatalf("at job 0's due time: %d retries ran, want 2 (stats %+v)", got, r.s.Stats())
			}
			r.mock.Add(time.Hour)
			fxSettle(t, r.s)
			if got := r.check(t); got != 3 {
				t.Fatalf("an hour later: %d retries ran, want 3 (stats %+v)", got, r.s.Stats())
			}
			if want := []int{2, 0, 1}; !slices.Equal(r.order, want) {
				t.Errorf("retry order %v, want %v", r.order, want)
			}
		})
	}
}

// fxInSubprocess runs the calling test again in a child process (the test
// binary, restricted to this test) when it is not the child already, and
// reports whether the caller is the child. A fault that crashes the process
// (a panic on a goroutine of the scheduler) then fails one test, in the
// parent, instead of killing the whole package's test run.
func fxInSubprocess(t *testing.T) (child bool) {
	t.Helper()
	if os.Getenv("REBOUND_FX_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REBOUND_FX_CHILD="+t.Name(),
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0") // the race detector's 1s pause at exit
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s crashed or failed in a child process: %v\n%s", t.Name(), err, out)
	}
	return false
}

// When an attempt is abandoned (AttemptTimeout + grace), its worker slot is
// given to a new worker. Releasing the abandoned job's key slot may already
// have started a worker for a job waiting on the key (WithKeyLimit), taking
// the freed slot; the scheduler must not then start another one with no
// slot left. Before the fix, abandon's second spawn indexed an empty free
// list and the panic, on the watchdog's goroutine, killed the process; the
// test runs in a child process so that it fails alone.
func TestFaultAbandonWithWaitingKeyJobs(t *testing.T) {
	if !fxInSubprocess(t) {
		return
	}
	mock := clock.NewMock()
	s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithKeyLimit(1),
		scheduler.WithGrace(0), scheduler.WithClock(mock))
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 2)
	// A: key K, ignores its ctx: abandoned when the mock passes its
	// AttemptTimeout.
	a := s.Go(context.Background(), func(context.Context) error {
		started <- struct{}{}
		<-release
		return nil
	}, job.Key("K"), job.AttemptTimeout(time.Second))
	<-started
	// B: key K, waits for K's slot (taken by the idle worker, gated).
	b := s.Go(context.Background(), func(context.Context) error { return nil }, job.Key("K"))
	waitStats(t, s, "one job waiting for its key", func(st scheduler.Stats) bool { return st.Waiting == 1 })
	// C: no key, holds the second worker until its ctx ends.
	cctx, cancelC := context.WithCancel(context.Background())
	defer cancelC()
	c := s.Go(cctx, func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	<-started
	// D: no key, queued: no worker is free.
	d := s.Go(context.Background(), func(context.Context) error { return nil })
	if st := s.Stats(); st.Running != 2 || st.Waiting != 1 || st.Queued != 1 {
		t.Fatalf("setup: stats %+v, want 2 running, 1 waiting, 1 queued", st)
	}
	mock.Add(time.Second) // A's watchdog: A is abandoned
	if _, err := fxWait(t, a); !errors.Is(err, scheduler.ErrAbandoned) {
		t.Errorf("A: err = %v, want ErrAbandoned", err)
	}
	for _, f := range []*job.Future[struct{}]{b, d} {
		if _, err := fxWait(t, f); err != nil {
			t.Errorf("a job queued behind the abandoned one: %v", err)
		}
	}
	cancelC()
	fxWait(t, c)
	fxCloseWithin(t, s, time.Second)
	fxEnded(t, s)
}

// A mock clock set before the scheduler's creation makes scheduler times
// negative. Everything that indexes by time must cope: the retry budget's
// bucket (WithRetryBudget) slices time into windows by division, and a
// negative remainder must not become a negative index. Before the fix the
// first attempt's deposit panicked on a worker goroutine and killed the
// process; the test runs in a child process so that it fails alone.
func TestFaultClockBeforeStartWithBudget(t *testing.T) {
	if !fxInSubprocess(t) {
		return
	}
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	mock := clock.NewMock()
	mock.Set(t0)
	s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithClock(mock),
		scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.5, MinPerSecond: 10}))
	mock.Set(t0.Add(-time.Hour - 1500*time.Millisecond)) // before the scheduler's epoch, off a window boundary
	op, calls := fxFailThen(2, 1)
	f := scheduler.Submit(s, context.Background(), op, job.Wait(wait.Constant(0)), job.Key("k"))
	if v, err := fxWait(t, f); v != 1 || err != nil || calls.Load() != 3 {
		t.Errorf("Wait() = %d, %v after %d attempts; want 1, nil after 3", v, err, calls.Load())
	}
	fxCloseWithin(t, s, time.Second)
	fxEnded(t, s)
}
