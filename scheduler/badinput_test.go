package scheduler_test

// Bad input everywhere: nil operation, nil ctx, zero and negative sizes,
// negative durations, NaN and infinite factors, absurd Retry-After values,
// empty and huge keys. Each gets a clear error or a "package: ..." panic at
// the call site, never a hang or a silent drop. The tests that involve time
// run in a synctest bubble.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
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

// Misuse panics at the call site, with a message prefixed by the package
// that panicked, and leaves nothing behind: no job submitted, no goroutine.
func TestBadInputPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := scheduler.New(scheduler.WithWorkers(1))
	var (
		nilCtx context.Context
		nilS   *scheduler.Scheduler
		ctx    = context.Background()
		op     = func(context.Context) (int, error) { return 1, nil }
		fn     = func(_ context.Context, i int) (int, error) { return i, nil }
		nilOp  func(context.Context) (int, error)
		nilErr func(context.Context) error
		nilFn  func(context.Context, int) (int, error)
	)
	tests := []struct {
		name   string
		prefix string
		call   func()
	}{
		{"WithWorkers(0)", "scheduler: ", func() { scheduler.WithWorkers(0) }},
		{"WithWorkers(-1)", "scheduler: ", func() { scheduler.WithWorkers(-1) }},
		{"WithWorkers(MinInt)", "scheduler: ", func() { scheduler.WithWorkers(math.MinInt) }},
		{"WithQueueSize(0)", "scheduler: ", func() { scheduler.WithQueueSize(0) }},
		{"WithQueueSize(-1)", "scheduler: ", func() { scheduler.WithQueueSize(-1) }},
		{"WithGrace(-1ns)", "scheduler: ", func() { scheduler.WithGrace(-1) }},
		{"WithGrace(MinInt64)", "scheduler: ", func() { scheduler.WithGrace(math.MinInt64) }},
		{"WithKeyLimit(-1)", "scheduler: ", func() { scheduler.WithKeyLimit(-1) }},
		{"WithClock(nil)", "scheduler: ", func() { scheduler.WithClock(nil) }},
		{"WithRetryBudget(Ratio NaN)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: math.NaN()}) }},
		{"WithRetryBudget(Ratio +Inf)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: math.Inf(1)}) }},
		{"WithRetryBudget(Ratio -Inf)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: math.Inf(-1)}) }},
		{"WithRetryBudget(Ratio -0.1)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: -0.1}) }},
		{"WithRetryBudget(Ratio 1001)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: 1001}) }},
		{"WithRetryBudget(MinPerSecond NaN)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.1, MinPerSecond: math.NaN()}) }},
		{"WithRetryBudget(MinPerSecond +Inf)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.1, MinPerSecond: math.Inf(1)}) }},
		{"WithRetryBudget(MinPerSecond -1)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.1, MinPerSecond: -1}) }},
		{"WithRetryBudget(Window -1s)", "scheduler: ", func() { scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.1, Window: -time.Second}) }},
		{"WithDefaults(Key)", "scheduler: ", func() { scheduler.WithDefaults(job.Key("k")) }},
		{"WithDefaults(Clock)", "scheduler: ", func() { scheduler.WithDefaults(job.Clock(clock.NewMock())) }},
		{"Submit(nil scheduler)", "scheduler: ", func() { scheduler.Submit(nilS, ctx, op) }},
		{"Submit(nil ctx)", "scheduler: ", func() { scheduler.Submit(s, nilCtx, op) }},
		{"Submit(nil op)", "scheduler: ", func() { scheduler.Submit(s, ctx, nilOp) }},
		{"TrySubmit(nil scheduler)", "scheduler: ", func() { _, _ = scheduler.TrySubmit(nilS, ctx, op) }},
		{"TrySubmit(nil ctx)", "scheduler: ", func() { _, _ = scheduler.TrySubmit(s, nilCtx, op) }},
		{"TrySubmit(nil op)", "scheduler: ", func() { _, _ = scheduler.TrySubmit(s, ctx, nilOp) }},
		{"Go(nil ctx)", "scheduler: ", func() { s.Go(nilCtx, func(context.Context) error { return nil }) }},
		{"Go(nil op)", "scheduler: ", func() { s.Go(ctx, nilErr) }},
		{"nil.Go", "scheduler: ", func() { nilS.Go(ctx, func(context.Context) error { return nil }) }},
		{"TryGo(nil op)", "scheduler: ", func() { _, _ = s.TryGo(ctx, nilErr) }},
		{"TryGo(nil ctx)", "scheduler: ", func() { _, _ = s.TryGo(nilCtx, func(context.Context) error { return nil }) }},
		{"Map(nil scheduler)", "scheduler: ", func() { scheduler.Map(nilS, ctx, []int{1}, fn) }},
		{"Map(nil ctx)", "scheduler: ", func() { scheduler.Map(s, nilCtx, []int{1}, fn) }},
		{"Map(nil fn)", "scheduler: ", func() { scheduler.Map(s, ctx, []int{1}, nilFn) }},
		{"MapAll(nil fn)", "scheduler: ", func() { scheduler.MapAll(s, ctx, []int{1}, nilFn) }},
		{"Submit(RetryOnResult of another type)", "job: ", func() {
			scheduler.Submit(s, ctx, op, job.RetryOnResult(func(string) bool { return false }))
		}},
		{"Submit(Policy with RetryOnResult of another type)", "job: ", func() {
			scheduler.Submit(s, ctx, op, job.NewPolicy(job.RetryOnResult(func(string) bool { return false })))
		}},
		{"WithDefaults(RetryOnResult of another type), then Submit", "job: ", func() {
			s2 := scheduler.New(scheduler.WithDefaults(job.RetryOnResult(func(string) bool { return false })))
			defer s2.Close()
			scheduler.Submit(s2, ctx, op)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustPanic(t, tt.prefix, tt.call) })
	}
	if st := s.Stats(); st.Submitted != 0 {
		t.Errorf("calls that panicked submitted jobs: %+v", st)
	}
	serves(t, s, 3)
	closeWithin(t, s, time.Second)
	checkEnded(t, s)
	noLeak(t, ignore)
}

// Nil options are ignored (job.Option nil, a nil *job.Policy, a nil
// scheduler.Option), and the smallest legal sizes work.
func TestBadInputNilOptionsAndMinimalSizes(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var nilPolicy *job.Policy
	s := scheduler.New(nil, scheduler.WithWorkers(1), scheduler.WithQueueSize(1), scheduler.WithGrace(0), nil)
	for i := range 20 {
		f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return i, nil }, nil, nilPolicy, job.Option(nil))
		if v, err := await(t, f); v != i || err != nil {
			t.Fatalf("job %d: %d, %v", i, v, err)
		}
	}
	closeWithin(t, s, time.Second)
	checkEnded(t, s)
	noLeak(t, ignore)
}

// A context that is already done, or whose deadline has passed: the future
// resolves at once with the context's cause and no attempt is made; so does
// a job whose MaxElapsed is too small to start an attempt. Submissions after
// Close resolve with ErrClosed. None is silently dropped: each is counted.
func TestBadInputDeadContextsAndTinyDurations(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := scheduler.New(scheduler.WithWorkers(2))
	var calls atomic.Int32
	op := func(ctx context.Context) (int, error) {
		calls.Add(1)
		if ctx.Err() != nil {
			t.Errorf("attempt started on a done context: %v", context.Cause(ctx))
		}
		return 1, nil
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cause := errors.New("bad: caller gave up")
	withCause, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(cause)
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Hour))
	defer cancelExpired()
	tests := []struct {
		name       string
		ctx        context.Context
		opts       []job.Option
		wantReason error
	}{
		{"canceled ctx", canceled, nil, context.Canceled},
		{"canceled ctx with a cause", withCause, nil, cause},
		{"expired ctx", expired, nil, context.DeadlineExceeded},
		{"MaxElapsed(1ns)", context.Background(), []job.Option{job.MaxElapsed(1)}, job.ErrDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			f := scheduler.Submit(s, tt.ctx, op, tt.opts...)
			_, err := await(t, f)
			e := jobError(t, err)
			if e.Reason != tt.wantReason || e.Attempts != 0 || calls.Load() != before {
				t.Errorf("err = %v (Reason %v, %d attempts, op called %d times); want Reason %v, no attempt",
					err, e.Reason, e.Attempts, calls.Load()-before, tt.wantReason)
			}
		})
	}
	t.Run("MaxElapsed, MaxWait, MaxAttempts at their maximum", func(t *testing.T) {
		op, n := failThen(2, 9)
		f := scheduler.Submit(s, context.Background(), op, job.MaxElapsed(math.MaxInt64), job.MaxWait(math.MaxInt64),
			job.MaxAttempts(math.MaxInt), job.Wait(wait.Constant(time.Microsecond)))
		if v, err := await(t, f); v != 9 || err != nil || n.Load() != 3 {
			t.Errorf("Wait() = %d, %v after %d attempts; want 9, nil after 3", v, err, n.Load())
		}
	})
	closeWithin(t, s, time.Second)
	for _, submit := range []func() *job.Future[int]{
		func() *job.Future[int] { return scheduler.Submit(s, context.Background(), op) },
		func() *job.Future[int] {
			f, err := scheduler.TrySubmit(s, context.Background(), op)
			if f != nil || !errors.Is(err, job.ErrClosed) {
				t.Errorf("TrySubmit after Close = %v, %v; want nil, ErrClosed (not accepted)", f, err)
			}
			return f
		},
	} {
		if f := submit(); f != nil {
			if !isDone(f.Done()) {
				t.Errorf("a submission after Close is not resolved at once")
			}
			if _, err := f.Wait(context.Background()); !errors.Is(err, job.ErrClosed) {
				t.Errorf("a submission after Close: err = %v, want ErrClosed", err)
			}
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Close = %v, want nil", err)
	}
	st := checkEnded(t, s)
	if want := uint64(len(tests) + 1 + 1); st.Submitted != want {
		t.Errorf("Stats.Submitted = %d, want %d (every accepted submission counted)", st.Submitted, want)
	}
	noLeak(t, ignore)
}

// customHint is an error whose RetryAfter method returns any duration, even
// one job.RetryAfter would not make.
type customHint time.Duration

func (h customHint) Error() string             { return "503 (custom hint " + time.Duration(h).String() + ")" }
func (h customHint) RetryAfter() time.Duration { return time.Duration(h) }

// Absurd Retry-After hints on one job: a negative hint counts as 0; a hint
// above MaxWait (or past the job's deadline) ends the job at once with
// ErrDeadline, keeping the error; it is not parked for years.
func TestBadInputAbsurdRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		opts       []job.Option
		wantReason error // nil: retried at once, then succeeds
	}{
		{"RetryAfter(-1h)", job.RetryAfter(errBoom, -time.Hour), nil, nil},
		{"RetryAfter(MinInt64)", job.RetryAfter(errBoom, math.MinInt64), nil, nil},
		{"custom RetryAfter() = MinInt64", customHint(math.MinInt64), nil, nil},
		{"RetryAfter(MaxInt64)", job.RetryAfter(errBoom, math.MaxInt64), nil, job.ErrDeadline},
		{"custom RetryAfter() = MaxInt64", customHint(math.MaxInt64), nil, job.ErrDeadline},
		{"RetryAfter(100 years), MaxWait(0)", job.RetryAfter(errBoom, 100*365*24*time.Hour), []job.Option{job.MaxWait(0), job.MaxElapsed(time.Hour)}, job.ErrDeadline},
		{"RetryAfter(2h), MaxElapsed(1h)", job.RetryAfter(errBoom, 2*time.Hour), []job.Option{job.MaxWait(0), job.MaxElapsed(time.Hour)}, job.ErrDeadline},
	}
	for _, keyed := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if keyed {
				name += ", keyed"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					s := scheduler.New(scheduler.WithWorkers(2))
					var calls atomic.Int32
					opts := append([]job.Option{job.Wait(wait.Constant(0)), job.Jitter(jitter.None)}, tt.opts...)
					if keyed {
						opts = append(opts, job.Key("api.example.com"))
					}
					start := time.Now()
					f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
						if calls.Add(1) == 1 {
							return 0, tt.err
						}
						return 1, nil
					}, opts...)
					synctest.Wait() // every goroutine idle, and no time has passed: a hint of 0 needs none
					if !isDone(f.Done()) {
						t.Fatalf("job not resolved without time passing (stats %+v)", s.Stats())
					}
					if d := time.Since(start); d != 0 {
						t.Errorf("job resolved after %v, want 0", d)
					}
					v, err := f.Wait(context.Background())
					if tt.wantReason == nil {
						if v != 1 || err != nil {
							t.Errorf("Wait() = %d, %v; want 1, nil", v, err)
						}
					} else {
						e := jobError(t, err)
						if e.Reason != tt.wantReason || e.Attempts != 1 || !errors.Is(err, e.Last) || e.Last == nil {
							t.Errorf("err = %v (Reason %v, %d attempts); want Reason %v after 1 attempt, keeping the error", err, e.Reason, e.Attempts, tt.wantReason)
						}
					}
					closeWithin(t, s, time.Second)
					checkEnded(t, s)
				})
			})
		}
	}
}

// A hint on a keyed job pauses the key. A pause must not make the key's
// other jobs wait past their own limits: a job never sleeps past its
// deadline (MaxElapsed), and no single wait exceeds its MaxWait, hints
// included ("a server saying come back in a year ends the job; it does not
// park it for a year"). So after one job of a key got an absurd hint, the
// key's next jobs end (ErrDeadline) or run within their limits; they are
// not parked for the length of the hint. The second job meets the pause in
// each of the ways a job can: submitted after it, retrying when it began,
// or waiting for the key's only slot (WithKeyLimit(1)) when it began.
func TestBadInputKeyPauseRespectsOtherJobsLimits(t *testing.T) {
	const key = "api.example.com"
	const (
		after   = "submitted after"
		running = "running"
		waiting = "waiting for a slot"
	)
	year := 365 * 24 * time.Hour
	maxElapsed10s := []job.Option{job.MaxElapsed(10 * time.Second)}
	tests := []struct {
		hint  time.Duration
		opts  []job.Option // of the second job
		limit time.Duration
		how   string // how the second job meets the pause
	}{
		{year, nil, time.Hour, after},
		{year, []job.Option{job.MaxElapsed(time.Second)}, time.Second, after},
		{30 * time.Minute, maxElapsed10s, 10 * time.Second, after},
		{30 * time.Minute, maxElapsed10s, 10 * time.Second, running},
		{year, nil, time.Hour, running},
		{30 * time.Minute, maxElapsed10s, 10 * time.Second, waiting},
		{year, nil, time.Hour, waiting},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("hint %v, limit %v, %s", tt.hint, tt.limit, tt.how)
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []scheduler.Option{scheduler.WithWorkers(2)}
				if tt.how == waiting {
					opts = append(opts, scheduler.WithKeyLimit(1))
				}
				s := scheduler.New(opts...)
				defer func() {
					closeWithin(t, s, time.Second)
					checkEnded(t, s)
				}()
				hinted, secondThere := make(chan struct{}), make(chan struct{})
				var firstCalls atomic.Int32
				s.Go(context.Background(), func(context.Context) error {
					if firstCalls.Add(1) > 1 {
						return nil
					}
					defer close(hinted)
					if tt.how != after {
						<-secondThere
					}
					return job.RetryAfter(errBoom, tt.hint)
				}, job.Key(key))
				jobOpts := append([]job.Option{job.Key(key), job.Wait(wait.Constant(time.Millisecond)), job.Jitter(jitter.None)}, tt.opts...)
				var calls atomic.Int32
				op := func(context.Context) (int, error) {
					if calls.Add(1) == 1 {
						if tt.how == running {
							close(secondThere)
							<-hinted
						}
						return 0, errBoom
					}
					return 1, nil
				}
				switch tt.how {
				case after:
					<-hinted
					synctest.Wait()
				case waiting:
					waitStats(t, s, "one job running", func(st scheduler.Stats) bool { return st.Running == 1 })
				}
				second := scheduler.Submit(s, context.Background(), op, jobOpts...)
				if tt.how == waiting {
					waitStats(t, s, "the second job waiting for its key", func(st scheduler.Stats) bool { return st.Waiting == 1 })
					close(secondThere)
				}
				synctest.Wait()
				if st, _ := s.KeyStats(key); st.Paused == 0 {
					t.Fatalf("key not paused by a hint of %v", tt.hint)
				}
				time.Sleep(tt.limit)
				synctest.Wait()
				if !isDone(second.Done()) {
					st, _ := s.KeyStats(key)
					t.Fatalf("the key's second job is still waiting %v after it started, past its limit of %v (key paused for %v more, %d attempts made)",
						tt.limit, tt.limit, st.Paused, calls.Load())
				}
				if _, err := second.Wait(context.Background()); err != nil && !errors.Is(err, job.ErrDeadline) {
					t.Errorf("second job: err = %v, want nil or ErrDeadline", err)
				}
			})
		})
	}
}

// A hint pauses the job's key even when the job itself cannot use it: once
// an attempt of a key has returned a hint, no attempt of that key starts
// before the hint ends (the package doc, "Keys"). Here the attempt that
// returns the hint is the job's last (MaxAttempts(1)): the job gives up, and
// the next job of the key must still wait for the hint to pass.
func TestBadInputHintOnLastAttemptPausesKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "api.example.com"
		s := scheduler.New(scheduler.WithWorkers(2))
		defer func() {
			closeWithin(t, s, time.Second)
			checkEnded(t, s)
		}()
		last := s.Go(context.Background(), func(context.Context) error {
			return job.RetryAfter(errBoom, time.Minute)
		}, job.Key(key), job.MaxAttempts(1))
		if _, err := await(t, last); !errors.Is(err, job.ErrExhausted) {
			t.Fatalf("err = %v, want ErrExhausted", err)
		}
		var calls atomic.Int32
		next := s.Go(context.Background(), func(context.Context) error { calls.Add(1); return nil }, job.Key(key))
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			st, _ := s.KeyStats(key)
			t.Errorf("the key's next job ran at once (%d attempts, key state %+v): the hint of the previous job's last attempt did not pause the key", n, st)
		}
		time.Sleep(time.Minute - 1)
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			t.Errorf("the key's next job ran before the minute's pause had passed (%d attempts)", n)
		}
		time.Sleep(15*time.Second + 1) // the end of the pause and its spread
		synctest.Wait()
		if _, err := await(t, next); err != nil {
			t.Errorf("next job: %v", err)
		}
	})
}

// Keys: the empty key means no key (no per-key limit applies); a huge key
// and thousands of distinct keys work, and their state is dropped once
// idle.
func TestBadInputKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(4), scheduler.WithKeyLimit(1))
		huge := strings.Repeat("k", 1<<20)
		// The empty key is not limited: two of its jobs run at once.
		both := make(chan struct{})
		var arrived atomic.Int32
		meet := func(context.Context) (int, error) {
			if arrived.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
				return 1, nil
			case <-time.After(10 * time.Second):
				return 0, errors.New("the other job with key \"\" never ran alongside")
			}
		}
		fa := scheduler.Submit(s, context.Background(), meet, job.Key(""))
		fb := scheduler.Submit(s, context.Background(), meet, job.Key(""))
		for _, f := range []*job.Future[int]{fa, fb} {
			if v, err := await(t, f); v != 1 || err != nil {
				t.Errorf("job with key \"\": %d, %v", v, err)
			}
		}
		// A huge key, limited to one attempt at a time.
		var running, peak atomic.Int32
		hugeOp := func(context.Context) (int, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			for range 100 { // stay running a while, so that overlapping attempts would show
				runtime.Gosched()
			}
			return 1, nil
		}
		var fs []*job.Future[int]
		for range 8 {
			fs = append(fs, scheduler.Submit(s, context.Background(), hugeOp, job.Key(huge)))
		}
		// Thousands of distinct keys.
		const distinct = 2000
		for i := range distinct {
			fs = append(fs, scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil },
				job.Key(strings.Repeat("x", i%64)+string(rune('a'+i%26))+time.Duration(i).String())))
		}
		for _, f := range fs {
			if v, err := await(t, f); v != 1 || err != nil {
				t.Errorf("keyed job: %d, %v", v, err)
			}
		}
		if p := peak.Load(); p != 1 {
			t.Errorf("huge key: %d attempts ran at once, want 1 (WithKeyLimit(1))", p)
		}
		synctest.Wait()
		if st := s.Stats(); st.Keys != 0 {
			t.Errorf("Stats.Keys = %d after every keyed job ended, want 0 (idle keys dropped)", st.Keys)
		}
		if _, ok := s.KeyStats(huge); ok {
			t.Error("the huge key's state was kept after it went idle")
		}
		closeWithin(t, s, time.Second)
		checkEnded(t, s)
	})
}
