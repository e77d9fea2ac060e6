package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// reasonOf returns err's Reason, failing the test when err is no *job.Error.
func reasonOf(t *testing.T, err error) *job.Error {
	t.Helper()
	var je *job.Error
	if !errors.As(err, &je) {
		t.Fatalf("err = %v (%T), want a *job.Error", err, err)
	}
	return je
}

// A key's pause takes effect when the hinted attempt returns, before its
// hook runs: a job of the same key submitted while the hook runs does not
// start before the hint has passed.
func TestKeyPauseBeforeHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(4))
		defer s.Close()
		inHook, release := make(chan struct{}), make(chan struct{})
		var returned time.Time
		pol := job.NewPolicy(job.MaxAttempts(1), job.OnGiveUp(func(job.Event) {
			close(inHook)
			<-release
		}))
		a := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
			returned = time.Now()
			return 0, job.RetryAfter(errBoom, 2*time.Second)
		}, pol, job.Key("h"))
		<-inHook
		var started atomic.Int64
		b := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
			started.Store(time.Now().UnixNano())
			return 1, nil
		}, job.Key("h"))
		synctest.Wait()
		if started.Load() != 0 {
			t.Fatal("a job of the paused key started while the hinted attempt's hook ran")
		}
		close(release)
		if _, err := a.Wait(context.Background()); err == nil {
			t.Fatal("the hinted job succeeded")
		}
		if _, err := b.Wait(context.Background()); err != nil {
			t.Fatalf("second job: %v", err)
		}
		if gap := time.Duration(started.Load() - returned.UnixNano()); gap < 2*time.Second {
			t.Errorf("second job started %v after the hinted attempt returned, want >= 2s", gap)
		}
	})
}

// The wait counts from the verdict, not from after the hook, and a job never
// sleeps past its deadline: as in job.Do, MaxElapsed 400ms with 200ms waits
// and a 300ms OnRetry hook ends at 300ms after 2 attempts.
func TestWaitCountsFromVerdict(t *testing.T) {
	opts := func(waits *[]time.Duration) job.Option {
		return job.NewPolicy(job.MaxElapsed(400*time.Millisecond), job.Wait(wait.Constant(200*time.Millisecond)),
			job.Jitter(jitter.None), job.MaxAttempts(0), job.OnRetry(func(ev job.Event) {
				*waits = append(*waits, ev.Wait)
				time.Sleep(300 * time.Millisecond) // a slow hook (synctest time)
			}))
	}
	fail := func(context.Context) (int, error) { return 0, errBoom }
	type outcome struct {
		took     time.Duration
		attempts int
		reason   error
		waits    []time.Duration
	}
	run := map[string]func() outcome{
		"job.Do": func() (o outcome) {
			start := time.Now()
			_, err := job.Do(context.Background(), fail, opts(&o.waits))
			je := reasonOf(t, err)
			return outcome{time.Since(start), je.Attempts, je.Reason, o.waits}
		},
		"scheduler": func() (o outcome) {
			s := scheduler.New()
			defer s.Close()
			start := time.Now()
			_, err := scheduler.Submit(s, context.Background(), fail, opts(&o.waits)).Wait(context.Background())
			je := reasonOf(t, err)
			return outcome{time.Since(start), je.Attempts, je.Reason, o.waits}
		},
	}
	for name, f := range run {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := f()
				if o.took != 300*time.Millisecond || o.attempts != 2 || o.reason != job.ErrDeadline {
					t.Errorf("ended after %v, %d attempts, %v; want 300ms, 2, ErrDeadline", o.took, o.attempts, o.reason)
				}
				if len(o.waits) != 1 || o.waits[0] != 200*time.Millisecond {
					t.Errorf("OnRetry waits = %v, want [200ms]", o.waits)
				}
			})
		})
	}
}

// Event.Wait is the wait that really follows, a key's pause included.
func TestRetryWaitIncludesKeyPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithRand(1))
		defer s.Close()
		var starts []time.Time
		var hookAt time.Time
		var waited time.Duration
		bStarted, aDone := make(chan struct{}), make(chan struct{})
		b := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
			starts = append(starts, time.Now())
			if len(starts) == 1 {
				close(bStarted)
				<-aDone // the key is paused by now
				return 0, errBoom
			}
			return 1, nil
		}, job.Key("h"), job.Wait(wait.Constant(10*time.Millisecond)), job.Jitter(jitter.None),
			job.OnRetry(func(ev job.Event) { hookAt, waited = time.Now(), ev.Wait }))
		<-bStarted
		a := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
			return 0, job.RetryAfter(errBoom, 2*time.Second)
		}, job.MaxAttempts(1), job.Key("h"))
		a.Wait(context.Background())
		close(aDone)
		if _, err := b.Wait(context.Background()); err != nil {
			t.Fatalf("b: %v", err)
		}
		if len(starts) != 2 {
			t.Fatalf("b made %d attempts, want 2", len(starts))
		}
		if waited < 2*time.Second {
			t.Errorf("Event.Wait = %v, want the key's pause (>= 2s), not the strategy's 10ms", waited)
		}
		if got := starts[1].Sub(hookAt); got != waited {
			t.Errorf("the retry started %v after the hook, Event.Wait said %v", got, waited)
		}
	})
}

// Misuse of Map panics in the caller's goroutine, before Map returns.
func TestMapMisusePanicsInCaller(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	fn := func(context.Context, int) (int, error) { return 0, nil }
	wrong := job.RetryOnResult(func(string) bool { return false })
	for name, call := range map[string]func(){
		"Map":    func() { scheduler.Map(s, context.Background(), []int{1, 2}, fn, wrong) },
		"MapAll": func() { scheduler.MapAll(s, context.Background(), []int{1, 2}, fn, wrong) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				v := recover()
				if msg, _ := v.(string); !strings.Contains(msg, "RetryOnResult[string]") {
					t.Errorf("recovered %v, want the RetryOnResult type panic", v)
				}
			}()
			call()
			t.Error("no panic")
		})
	}
	if st := s.Stats(); st.Submitted != 0 {
		t.Errorf("Submitted = %d after misuse, want 0", st.Submitted)
	}
}

// Shutdown stops Map's feeding goroutine and waits for it: once it returns,
// nothing is submitted any more and every input's result is on its way,
// those never submitted with job.ErrClosed.
func TestShutdownStopsMapFeeder(t *testing.T) {
	s := scheduler.New(scheduler.WithQueueSize(1), scheduler.WithWorkers(1))
	inputs := make([]int, 30000)
	first := make(chan struct{})
	var once atomic.Bool
	out := scheduler.Map(s, context.Background(), inputs, func(ctx context.Context, i int) (int, error) {
		if once.CompareAndSwap(false, true) {
			close(first)
		}
		return i, nil
	})
	<-first
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // cancel the rest at once
	s.Shutdown(ctx)
	after := s.Stats()
	closed, total := 0, 0
	for r := range out {
		total++
		if r.Err != nil {
			if je := reasonOf(t, r.Err); je.Reason != job.ErrClosed {
				t.Fatalf("result %d: Reason %v, want ErrClosed", r.Index, je.Reason)
			}
			closed++
		}
	}
	if total != len(inputs) {
		t.Errorf("%d results, want %d", total, len(inputs))
	}
	if closed == 0 {
		t.Error("no input ended with ErrClosed: the test did not exercise shutdown")
	}
	if later := s.Stats(); later.Submitted != after.Submitted || after.Submitted != uint64(len(inputs)) {
		t.Errorf("Submitted = %d when Shutdown returned, %d later; want %d both", after.Submitted, later.Submitted, len(inputs))
	}
}

// Map on a scheduler that has shut down resolves every input with ErrClosed.
func TestMapAfterShutdown(t *testing.T) {
	s := scheduler.New()
	s.Close()
	rs := scheduler.MapAll(s, context.Background(), []int{1, 2, 3}, func(_ context.Context, i int) (int, error) { return i, nil })
	for _, r := range rs {
		if je := reasonOf(t, r.Err); je.Reason != job.ErrClosed || je.Attempts != 0 {
			t.Errorf("result %d: %v after %d attempts, want ErrClosed after 0", r.Index, je.Reason, je.Attempts)
		}
	}
}

type panickyHint struct{}

func (panickyHint) Error() string             { return "panicky hint" }
func (panickyHint) RetryAfter() time.Duration { panic("RetryAfter exploded") }

type panickyUnwrap struct{}

func (panickyUnwrap) Error() string { return "panicky unwrap" }
func (panickyUnwrap) Unwrap() error { panic("Unwrap exploded") }

// A panic in a method of the operation's error is contained: the job ends
// with ErrPermanent and the panic is kept in Last.
func TestPanickingErrorMethods(t *testing.T) {
	for _, bad := range []error{panickyHint{}, panickyUnwrap{}, fmt.Errorf("wrapped: %w", panickyUnwrap{})} {
		op := func(context.Context) (int, error) { return 0, bad }
		check := func(t *testing.T, err error) {
			je := reasonOf(t, err)
			var pe *job.PanicError
			if je.Reason != job.ErrPermanent || je.Attempts != 1 || !errors.As(je.Last, &pe) {
				t.Errorf("%v after %d attempts, Last %v; want ErrPermanent after 1, a *job.PanicError in Last", je.Reason, je.Attempts, je.Last)
			}
		}
		t.Run(bad.Error()+"/scheduler", func(t *testing.T) {
			s := scheduler.New()
			defer s.Close()
			_, err := scheduler.Submit(s, context.Background(), op, job.Key("k")).Wait(context.Background())
			check(t, err)
		})
		t.Run(bad.Error()+"/job.Do", func(t *testing.T) {
			_, err := job.Do(context.Background(), op)
			check(t, err)
		})
	}
}

// When the job's own deadline or its AttemptTimeout ends an attempt, the
// attempt's ctx.Err() is context.DeadlineExceeded, as net/http and database
// drivers expect.
func TestAttemptContextDeadlineExceeded(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		opts []job.Option
	}{
		{"ctx deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, nil},
		{"MaxElapsed", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			[]job.Option{job.MaxElapsed(time.Second)}},
		{"AttemptTimeout", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			[]job.Option{job.AttemptTimeout(time.Second)}},
		{"ctx deadline under AttemptTimeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, []job.Option{job.AttemptTimeout(time.Hour)}},
	}
	for _, tc := range cases {
		for _, exec := range []string{"scheduler", "job.Do"} {
			t.Run(tc.name+"/"+exec, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ctx, cancel := tc.ctx()
					defer cancel()
					var seen error
					op := func(ctx context.Context) (int, error) {
						<-ctx.Done()
						seen = ctx.Err()
						return 0, ctx.Err()
					}
					opts := append([]job.Option{job.MaxAttempts(1)}, tc.opts...)
					if exec == "job.Do" {
						job.Do(ctx, op, opts...)
					} else {
						s := scheduler.New()
						defer s.Close()
						scheduler.Submit(s, ctx, op, opts...).Wait(context.Background())
					}
					if seen != context.DeadlineExceeded {
						t.Errorf("attempt's ctx.Err() = %v, want DeadlineExceeded", seen)
					}
				})
			})
		}
	}
}

// Under a mock clock, an attempt's context reports no mock-time deadline to
// real-time code: a real HTTP call with an AttemptTimeout succeeds.
func TestMockClockAttemptRealHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(ctx context.Context) (int, error) {
		if dl, ok := ctx.Deadline(); ok && dl.Before(time.Now()) {
			return 0, job.Permanent(fmt.Errorf("attempt deadline %v is in the past", dl))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, job.Permanent(err)
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	mock := clock.NewMock() // 1970
	pol := job.NewPolicy(job.AttemptTimeout(5*time.Second), job.MaxElapsed(time.Minute))
	s := scheduler.New(scheduler.WithClock(mock))
	defer s.Close()
	if code, err := scheduler.Submit(s, context.Background(), get, pol).Wait(context.Background()); err != nil || code != 200 {
		t.Errorf("scheduler: %d, %v; want 200, nil", code, err)
	}
	if code, err := job.Do(context.Background(), get, pol, job.Clock(mock)); err != nil || code != 200 {
		t.Errorf("job.Do: %d, %v; want 200, nil", code, err)
	}
}

// A job submitted while another job's hook runs starts at once on another
// worker: a worker running user code does not count as one about to take
// work.
func TestJobRunsWhileHookBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2))
		defer s.Close()
		inHook, release := make(chan struct{}), make(chan struct{})
		a := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 0, errBoom },
			job.MaxAttempts(1), job.OnGiveUp(func(job.Event) { close(inHook); <-release }))
		<-inHook
		b := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 7, nil })
		synctest.Wait()
		select {
		case <-b.Done():
		default:
			t.Error("a job waited for another job's hook")
		}
		close(release)
		a.Wait(context.Background())
	})
}

// PauseKey pauses a key from outside a job as a hint would: no attempt of
// the key starts before the pause ends; other keys run.
func TestPauseKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithRand(1))
		defer s.Close()
		start := time.Now()
		s.PauseKey("h", 2*time.Second)
		s.PauseKey("h", time.Second) // the later end wins
		s.PauseKey("", time.Hour)    // no key: nothing
		if ks, ok := s.KeyStats("h"); !ok || ks.Paused != 2*time.Second {
			t.Fatalf("KeyStats(h) = %+v, %v; want Paused 2s", ks, ok)
		}
		var at time.Time
		f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { at = time.Now(); return 1, nil }, job.Key("h"))
		g := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 2, nil }, job.Key("other"))
		if _, err := g.Wait(context.Background()); err != nil || time.Since(start) != 0 {
			t.Errorf("other key: %v after %v; want at once", err, time.Since(start))
		}
		if _, err := f.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := at.Sub(start); d < 2*time.Second || d > 2*time.Second+500*time.Millisecond {
			t.Errorf("paused key's job started after %v, want in [2s, 2.5s] (the pause, spread)", d)
		}
		if st := s.Stats(); st.Pauses != 2 {
			t.Errorf("Stats.Pauses = %d, want 2", st.Pauses)
		}
	})
}
