package scheduler_test

// Fault tests: user code that misbehaves (hooks that panic or block, a
// RetryIf or a strategy that panics, strategies that return negative or
// enormous delays, operations that ignore their context) and clock faults
// (a mock clock that jumps forward by days, or backward). Each fault has a
// documented outcome; in every case the scheduler keeps serving other jobs
// and Close returns. The tests of user code run in a synctest bubble, where
// the grace and every timeout are fake time; synctest.Test also fails when
// a goroutine of the bubble is left behind.

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// rawStrategy is a wait.Strategy that passes the function's delay through
// unchanged (wait.Func would clamp a negative one before the scheduler sees
// it).
type rawStrategy func(n int) (time.Duration, bool)

func (f rawStrategy) Delay(n int, _ time.Duration, _ *rand.Rand) (time.Duration, bool) { return f(n) }

// rawJitter is a jitter.Jitter that passes the function's delay through
// unchanged.
type rawJitter func(d time.Duration) time.Duration

func (f rawJitter) Apply(d time.Duration, _ *rand.Rand) time.Duration { return f(d) }

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
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(2))
				var retries, gaveUp, succeeded atomic.Int32
				count := []job.Option{
					job.OnRetry(func(job.Event) { retries.Add(1) }),
					job.OnGiveUp(func(job.Event) { gaveUp.Add(1) }),
					job.OnSuccess(func(job.Event) { succeeded.Add(1) }),
				}
				op, calls := failThen(tt.failures, 7)
				if tt.permanent {
					op = func(context.Context) (int, error) { calls.Add(1); return 0, job.Permanent(errBoom) }
				}
				// Both the counting hooks and the panicking one: the panicking
				// one replaces its counterpart, the others still count.
				opts := append(count, job.MaxAttempts(3), job.Wait(wait.Constant(0)), tt.hook)
				f := scheduler.Submit(s, context.Background(), op, opts...)
				v, err := await(t, f)
				switch {
				case tt.wantErr == nil && (v != 7 || err != nil):
					t.Errorf("Wait() = %d, %v; want 7, nil", v, err)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Errorf("Wait() error = %v, want %v", err, tt.wantErr)
				case tt.wantErr != nil && !errors.Is(err, errBoom):
					t.Errorf("Wait() error = %v, want it to keep the last error %v", err, errBoom)
				}
				if n := calls.Load(); tt.wantErr == nil && n != tt.failures+1 {
					t.Errorf("attempts = %d, want %d", n, tt.failures+1)
				}
				serves(t, s, 4)
				closeWithin(t, s, time.Second)
				st := checkEnded(t, s)
				t.Logf("retry hooks %d, give-up hooks %d, success hooks %d; stats %+v", retries.Load(), gaveUp.Load(), succeeded.Load(), st)
			})
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
			synctest.Test(t, func(t *testing.T) {
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
					op = func(context.Context) (int, error) { return 0, errBoom }
				case "OnGiveUp":
					hook = job.OnGiveUp(block)
					op = func(context.Context) (int, error) { return 0, job.Permanent(errBoom) }
				}
				f := scheduler.Submit(s, context.Background(), op, hook, job.Wait(wait.Constant(0)))
				recv(t, entered, "hook called")
				serves(t, s, 20) // on the other worker
				if isDone(f.Done()) {
					t.Fatal("the job resolved while its hook was still blocked")
				}
				if took := closeWithin(t, s, grace+2*time.Second); took < grace {
					t.Errorf("Close returned after %v, before the grace %v", took, grace)
				}
				_, err := await(t, f)
				e := jobError(t, err)
				if e.Reason != job.ErrClosed || !errors.Is(err, scheduler.ErrAbandoned) {
					t.Errorf("blocked job: err = %v; want Reason ErrClosed, Last ErrAbandoned", err)
				}
				st := checkEnded(t, s)
				if st.Abandoned != 1 {
					t.Errorf("Stats.Abandoned = %d, want 1", st.Abandoned)
				}
				close(release) // the worker's goroutine ends: synctest.Test waits for it
			})
		})
	}
}

// ---- RetryIf and strategies ------------------------------------------------

// A RetryIf that panics counts as "do not retry": the job gives up with
// ErrPermanent after the attempt, and Last keeps both the attempt's error
// and the panic (a *job.PanicError).
func TestFaultRetryIfPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2))
		var gaveUp atomic.Int32
		op, calls := failThen(5, 1)
		f := scheduler.Submit(s, context.Background(), op,
			job.RetryIf(func(error) bool { panic("retryif boom") }),
			job.OnGiveUp(func(job.Event) { gaveUp.Add(1) }),
			job.Wait(wait.Constant(0)))
		_, err := await(t, f)
		e := jobError(t, err)
		var pe *job.PanicError
		switch {
		case e.Reason != job.ErrPermanent:
			t.Errorf("Reason = %v, want ErrPermanent", e.Reason)
		case !errors.Is(err, errBoom):
			t.Errorf("err = %v, want it to keep the attempt's error", err)
		case !errors.As(err, &pe) || pe.Value != "retryif boom":
			t.Errorf("err = %v, want a *job.PanicError with the RetryIf panic", err)
		case calls.Load() != 1 || e.Attempts != 1:
			t.Errorf("attempts = %d (op called %d times), want 1", e.Attempts, calls.Load())
		case gaveUp.Load() != 1:
			t.Errorf("OnGiveUp called %d times, want 1", gaveUp.Load())
		}
		serves(t, s, 4)
		closeWithin(t, s, time.Second)
		if st := checkEnded(t, s); st.GaveUp != 1 {
			t.Errorf("Stats.GaveUp = %d, want 1", st.GaveUp)
		}
	})
}

// Strategies and jitters that misbehave: a panic ends the job (ErrExhausted,
// the panic kept in Last); a negative delay counts as 0 (retry at once); an
// enormous delay is cut to MaxWait (default 1h), and a wait that would pass
// the job's deadline ends the job with ErrDeadline without parking it; with
// MaxWait(0) (no ceiling) the job stays parked until it is canceled. A
// negative jitter counts as 0, a panicking jitter as no jitter.
func TestFaultStrategy(t *testing.T) {
	enormous := rawStrategy(func(int) (time.Duration, bool) { return math.MaxInt64, true })
	tests := []struct {
		name     string
		opts     []job.Option
		wantWait time.Duration // the first OnRetry's Event.Wait; -1: no retry
		// advance is how long the test sleeps for the retry to run; it
		// first checks that advance-1ns does not run it.
		advance       time.Duration
		wantReason    error // nil: the job succeeds on its second attempt
		wantPanic     bool
		parkedForever bool
	}{
		{
			name:       "strategy panics",
			opts:       []job.Option{job.Wait(rawStrategy(func(int) (time.Duration, bool) { panic("strategy boom") }))},
			wantWait:   -1,
			wantReason: job.ErrExhausted,
			wantPanic:  true,
		},
		{
			name:     "strategy returns -1h",
			opts:     []job.Option{job.Wait(rawStrategy(func(int) (time.Duration, bool) { return -time.Hour, true }))},
			wantWait: 0,
		},
		{
			name:     "strategy returns MinInt64",
			opts:     []job.Option{job.Wait(rawStrategy(func(int) (time.Duration, bool) { return math.MinInt64, true })), job.Jitter(jitter.None)},
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
			opts:     []job.Option{job.Wait(wait.Constant(time.Second)), job.Jitter(rawJitter(func(time.Duration) time.Duration { return -time.Hour }))},
			wantWait: 0,
		},
		{
			name:     "jitter panics: no jitter",
			opts:     []job.Option{job.Wait(wait.Constant(time.Second)), job.Jitter(rawJitter(func(time.Duration) time.Duration { panic("jitter boom") }))},
			wantWait: time.Second,
			advance:  time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(2))
				var mu sync.Mutex
				var waits []time.Duration
				opts := append([]job.Option{job.OnRetry(func(e job.Event) {
					mu.Lock()
					waits = append(waits, e.Wait)
					mu.Unlock()
				})}, tt.opts...)
				op, calls := failThen(1, 5)
				f := scheduler.Submit(s, context.Background(), op, opts...)
				synctest.Wait()
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
					time.Sleep(tt.advance - 1)
					synctest.Wait()
					if n := calls.Load(); n != 1 {
						t.Errorf("retry ran %v early: %d attempts", time.Nanosecond, n)
					}
					time.Sleep(time.Nanosecond)
					synctest.Wait()
				}
				if tt.parkedForever {
					time.Sleep(24 * 365 * time.Hour)
					synctest.Wait()
					if st := s.Stats(); st.Parked != 1 || isDone(f.Done()) {
						t.Errorf("job not parked after a year: %+v", st)
					}
					closeWithin(t, s, time.Second)
					_, err := await(t, f)
					if e := jobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, errBoom) {
						t.Errorf("parked job at Close: err = %v, want Reason ErrClosed keeping %v", err, errBoom)
					}
					checkEnded(t, s)
					return
				}
				v, err := await(t, f)
				if tt.wantReason == nil {
					if v != 5 || err != nil {
						t.Errorf("Wait() = %d, %v; want 5, nil", v, err)
					}
				} else {
					e := jobError(t, err)
					var pe *job.PanicError
					if e.Reason != tt.wantReason || e.Attempts != 1 || !errors.Is(err, errBoom) {
						t.Errorf("err = %v (Reason %v, %d attempts), want Reason %v after 1 attempt keeping %v", err, e.Reason, e.Attempts, tt.wantReason, errBoom)
					}
					if tt.wantPanic && !errors.As(err, &pe) {
						t.Errorf("err = %v, want the strategy's panic kept as a *job.PanicError", err)
					}
					if st := s.Stats(); st.Parked != 0 || st.Retried != 0 {
						t.Errorf("a job that gave up was parked or retried: %+v", st)
					}
				}
				serves(t, s, 2)
				closeWithin(t, s, time.Second)
				checkEnded(t, s)
			})
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
	synctest.Test(t, func(t *testing.T) {
		const timeout, grace = 5 * time.Millisecond, 5 * time.Millisecond
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(grace))
		release := make(chan struct{})
		start := time.Now()
		f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
			<-release // ignores ctx
			return 1, nil
		}, job.AttemptTimeout(timeout))
		_, err := await(t, f)
		took := time.Since(start)
		e := jobError(t, err)
		if e.Reason != job.ErrDeadline || !errors.Is(e.Last, scheduler.ErrAbandoned) || e.Attempts != 1 {
			t.Errorf("err = %v (Reason %v, Last %v, %d attempts); want Reason ErrDeadline, Last ErrAbandoned, 1 attempt", err, e.Reason, e.Last, e.Attempts)
		}
		if took < timeout+grace {
			t.Errorf("abandoned after %v, before AttemptTimeout+grace = %v", took, timeout+grace)
		}
		serves(t, s, 10) // the one worker slot was given to a new worker
		if st := s.Stats(); st.Abandoned != 1 {
			t.Errorf("Stats.Abandoned = %d, want 1", st.Abandoned)
		}
		closeWithin(t, s, time.Second)
		checkEnded(t, s)
		close(release)
		t.Logf("abandoned after %v (AttemptTimeout %v + grace %v)", took, timeout, grace)
	})
}

// Stats documents GaveUp as "ended by the policy: exhausted, deadline, ..."
// and Abandoned as "each job also in Canceled or GaveUp": a job abandoned
// because its attempt overran AttemptTimeout + grace (Reason ErrDeadline,
// the policy's doing) belongs in GaveUp, not Canceled.
func TestFaultOverrunCountsAsGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(0))
		release := make(chan struct{})
		f := s.Go(context.Background(), func(context.Context) error { <-release; return nil }, job.AttemptTimeout(time.Millisecond))
		_, err := await(t, f)
		closeWithin(t, s, time.Second)
		close(release)
		st := checkEnded(t, s)
		if e := jobError(t, err); e.Reason != job.ErrDeadline {
			t.Fatalf("Reason = %v, want ErrDeadline", e.Reason)
		}
		if st.GaveUp != 1 || st.Canceled != 0 {
			t.Errorf("overrun job counted as GaveUp %d, Canceled %d; want GaveUp 1, Canceled 0 (Reason is ErrDeadline)", st.GaveUp, st.Canceled)
		}
	})
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
			synctest.Test(t, func(t *testing.T) {
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
				parked := s.Go(context.Background(), func(context.Context) error { return errBoom }, job.Wait(wait.Constant(time.Hour)))
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
					closeWithin(t, s, tc.grace+2*time.Second)
				}
				took := time.Since(start)
				if took < tc.grace {
					t.Errorf("returned after %v, before the grace %v", took, tc.grace)
				}
				_, err := await(t, f)
				if e := jobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, scheduler.ErrAbandoned) {
					t.Errorf("hung job: err = %v; want Reason ErrClosed, Last ErrAbandoned", err)
				}
				_, err = await(t, parked)
				if e := jobError(t, err); e.Reason != job.ErrClosed || !errors.Is(err, errBoom) {
					t.Errorf("parked job: err = %v; want Reason ErrClosed keeping %v", err, errBoom)
				}
				st := checkEnded(t, s)
				if st.Abandoned != 1 || st.Canceled != 2 {
					t.Errorf("Stats: Abandoned %d, Canceled %d; want 1, 2", st.Abandoned, st.Canceled)
				}
				close(release)
			})
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
			synctest.Test(t, func(t *testing.T) {
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
				if v, err := await(t, f); v != 1 || err != nil {
					t.Errorf("AttemptTimeout(%v): Wait() = %d, %v; want 1, nil (st %+v)", to, v, err, s.Stats())
				}
			})
		})
	}
}

// ---- clock faults ----------------------------------------------------------

// The clock faults below are injected through the clock seam (WithClock): a
// clock that jumps, or goes back, is something only a mock can do, so these
// tests stay on the mock. They use WaitSettled as the handshake before each
// move of the clock.

// clockRig is a one-worker scheduler on a mock clock whose jobs fail their
// first attempt, wait a fixed delay, and record when their second attempt
// ran.
type clockRig struct {
	mock  *clock.Mock
	s     *scheduler.Scheduler
	mu    sync.Mutex
	order []int // job ids, in the order of their second attempts
	due   map[int]time.Time
	ran   map[int]time.Time
	fs    map[int]*job.Future[int]
}

func newClockRig(start time.Time) *clockRig {
	mock := clock.NewMock()
	mock.Set(start)
	return &clockRig{
		mock: mock,
		s:    scheduler.New(scheduler.WithWorkers(1), scheduler.WithClock(mock)),
		due:  map[int]time.Time{},
		ran:  map[int]time.Time{},
		fs:   map[int]*job.Future[int]{},
	}
}

// submit adds job id, whose retry is due d after its first attempt.
func (r *clockRig) submit(t *testing.T, id int, d time.Duration) {
	t.Helper()
	var calls atomic.Int32
	r.mu.Lock()
	r.due[id] = r.mock.Now().Add(d)
	r.mu.Unlock()
	r.fs[id] = scheduler.Submit(r.s, context.Background(), func(context.Context) (int, error) {
		if calls.Add(1) == 1 {
			return 0, errBoom
		}
		r.mu.Lock()
		r.order = append(r.order, id)
		r.ran[id] = r.mock.Now()
		r.mu.Unlock()
		return id, nil
	}, job.Wait(wait.Constant(d)), job.Jitter(jitter.None), job.MaxWait(0))
	settle(t, r.s)
}

// check verifies that no retry ran before its due time and returns how many
// have run.
func (r *clockRig) check(t *testing.T) int {
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

// The mock clock jumps forward by days at once (as after a suspend): every
// retry made due by the jump runs (nothing stuck), in the order of its due
// time (the heap fires in order; one worker, so the order is observable),
// and none before its time.
func TestFaultClockJumpsForwardDays(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	r := newClockRig(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
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
	settle(t, r.s)
	if got := r.check(t); got != 0 {
		t.Fatalf("%d retries ran before the earliest due time", got)
	}
	// Half of them in one jump of days, then the rest in another.
	sorted := slices.Clone(delays)
	slices.Sort(sorted)
	r.mock.Add(sorted[n/2-1] - first + time.Nanosecond)
	settle(t, r.s)
	if got := r.check(t); got != n/2 {
		t.Errorf("after jumping to the %dth due time: %d retries ran, want %d (stats %+v)", n/2, got, n/2, r.s.Stats())
	}
	r.mock.Add(30 * 24 * time.Hour)
	settle(t, r.s)
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
		if v, err := await(t, f); v != id || err != nil {
			t.Errorf("job %d: %d, %v", id, v, err)
		}
	}
	closeWithin(t, r.s, time.Second)
	if st := checkEnded(t, r.s); st.Succeeded != n || st.Retried != n {
		t.Errorf("stats %+v, want %d succeeded after one retry each", st, n)
	}
	noLeak(t, ignore)
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
			r := newClockRig(t0)
			r.mock.Add(tc.ahead)
			t0 = t0.Add(tc.ahead)
			r.submit(t, 0, time.Minute)
			r.submit(t, 1, 2*time.Minute)
			r.mock.Set(t0.Add(-24 * time.Hour)) // a day back
			settle(t, r.s)
			r.submit(t, 2, 30*time.Second) // due at t0-24h+30s
			r.mock.Add(20 * time.Second)
			settle(t, r.s)
			if got := r.check(t); got != 0 {
				t.Fatalf("%d retries ran early after the clock went back", got)
			}
			defer func() {
				closeWithin(t, r.s, time.Second)
				checkEnded(t, r.s)
				noLeak(t, ignore)
			}()
			r.mock.Add(10 * time.Second) // job 2's due time
			settle(t, r.s)
			if got := r.check(t); got != 1 {
				t.Fatalf("at job 2's due time: %d retries ran, want 1 (stats %+v)", got, r.s.Stats())
			}
			r.mock.Set(t0.Add(time.Minute)) // job 0's due time
			settle(t, r.s)
			if got := r.check(t); got != 2 {
				t.Fatalf("at job 0's due time: %d retries ran, want 2 (stats %+v)", got, r.s.Stats())
			}
			r.mock.Add(time.Hour)
			settle(t, r.s)
			if got := r.check(t); got != 3 {
				t.Fatalf("an hour later: %d retries ran, want 3 (stats %+v)", got, r.s.Stats())
			}
			if want := []int{2, 0, 1}; !slices.Equal(r.order, want) {
				t.Errorf("retry order %v, want %v", r.order, want)
			}
		})
	}
}

// inSubprocess runs the calling test again in a child process (the test
// binary, restricted to this test) when it is not the child already, and
// reports whether the caller is the child. A fault that crashes the process
// (a panic on a goroutine of the scheduler) then fails one test, in the
// parent, instead of killing the whole package's test run.
func inSubprocess(t *testing.T) (child bool) {
	t.Helper()
	if os.Getenv("REBOUND_TEST_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REBOUND_TEST_CHILD="+t.Name(),
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
	if !inSubprocess(t) {
		return
	}
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithKeyLimit(1), scheduler.WithGrace(0))
		release := make(chan struct{})
		defer close(release)
		started := make(chan struct{}, 2)
		// A: key K, ignores its ctx: abandoned once its AttemptTimeout has
		// passed.
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
		synctest.Wait()
		if st := s.Stats(); st.Running != 2 || st.Waiting != 1 || st.Queued != 1 {
			t.Fatalf("setup: stats %+v, want 2 running, 1 waiting, 1 queued", st)
		}
		time.Sleep(time.Second) // A's watchdog: A is abandoned
		if _, err := await(t, a); !errors.Is(err, scheduler.ErrAbandoned) {
			t.Errorf("A: err = %v, want ErrAbandoned", err)
		}
		for _, f := range []*job.Future[struct{}]{b, d} {
			if _, err := await(t, f); err != nil {
				t.Errorf("a job queued behind the abandoned one: %v", err)
			}
		}
		cancelC()
		await(t, c)
		closeWithin(t, s, time.Second)
		checkEnded(t, s)
	})
}

// A mock clock set before the scheduler's creation makes scheduler times
// negative (only a mock can go back in time: this test stays on it).
// Everything that indexes by time must cope: the retry budget's bucket
// (WithRetryBudget) slices time into windows by division, and a negative
// remainder must not become a negative index. Before the fix the first
// attempt's deposit panicked on a worker goroutine and killed the process;
// the test runs in a child process so that it fails alone.
func TestFaultClockBeforeStartWithBudget(t *testing.T) {
	if !inSubprocess(t) {
		return
	}
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	mock := clock.NewMock()
	mock.Set(t0)
	s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithClock(mock),
		scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.5, MinPerSecond: 10}))
	mock.Set(t0.Add(-time.Hour - 1500*time.Millisecond)) // before the scheduler's epoch, off a window boundary
	op, calls := failThen(2, 1)
	f := scheduler.Submit(s, context.Background(), op, job.Wait(wait.Constant(0)), job.Key("k"))
	if v, err := await(t, f); v != 1 || err != nil || calls.Load() != 3 {
		t.Errorf("Wait() = %d, %v after %d attempts; want 1, nil after 3", v, err, calls.Load())
	}
	closeWithin(t, s, time.Second)
	checkEnded(t, s)
}
