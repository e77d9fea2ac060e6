package scheduler_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// onWorker reports whether the calling goroutine is one of a scheduler's
// workers (and not a caller of Do running an attempt inline).
func onWorker() bool {
	buf := make([]byte, 64<<10)
	st := string(buf[:runtime.Stack(buf, false)])
	return strings.Contains(st, "(*Scheduler).worker(")
}

// Do runs a first attempt on the calling goroutine and its retries on the
// workers, and returns the job's result.
func TestDoInlineFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2))
		defer s.Close()
		var where []bool
		v, err := scheduler.Do(s, context.Background(), func(ctx context.Context) (int, error) {
			where = append(where, onWorker())
			if job.AttemptFrom(ctx) < 3 {
				return 0, errBoom
			}
			return 7, nil
		}, constant(time.Second))
		if v != 7 || err != nil {
			t.Fatalf("Do = %d, %v; want 7, nil", v, err)
		}
		if len(where) != 3 || where[0] || !where[1] || !where[2] {
			t.Fatalf("attempts on a worker: %v; want [false true true] (the first inline)", where)
		}
		st := s.Stats()
		if st.Submitted != 1 || st.Succeeded != 1 || st.Retried != 2 {
			t.Fatalf("stats %+v: want 1 submitted, 1 succeeded, 2 retried", st)
		}
	})
}

// A job that gives up returns its *job.Error, with the value its
// RetryOnResult kept, as Submit's future would.
func TestDoGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New()
		defer s.Close()
		calls := 0
		_, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
			calls++
			return 0, errBoom
		}, constant(time.Second, job.MaxAttempts(3)))
		je := jobError(t, err)
		if je.Reason != job.ErrExhausted || !errors.Is(err, errBoom) || je.Attempts != 3 || calls != 3 {
			t.Fatalf("err %v (attempts %d), calls %d: want ErrExhausted after 3 attempts wrapping boom", err, je.Attempts, calls)
		}
		_, err = scheduler.Do(s, context.Background(), func(context.Context) (int, error) { panic("kaboom") })
		if je := jobError(t, err); je.Reason != job.ErrPermanent || !strings.Contains(err.Error(), "kaboom") {
			t.Fatalf("panicking op: %v; want a permanent error naming the panic", err)
		}
	})
}

// Inline attempts count against WithWorkers: with 2 places, 6 callers never
// run more than 2 attempts at once, Submit's jobs included, and every call
// ends.
func TestDoRespectsWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2))
		defer s.Close()
		var running, peak atomic.Int32
		release := make(chan struct{})
		op := func(context.Context) (int, error) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			running.Add(-1)
			return 1, nil
		}
		var wg sync.WaitGroup
		results := make(chan error, 8)
		for range 6 {
			wg.Go(func() {
				_, err := scheduler.Do(s, context.Background(), op)
				results <- err
			})
		}
		f := scheduler.Submit(s, context.Background(), op)
		synctest.Wait()
		if n := running.Load(); n != 2 {
			t.Fatalf("%d attempts running with 2 workers, want 2", n)
		}
		if st := s.Stats(); st.Queued+st.Running != 7 {
			t.Fatalf("stats %+v: want the 7 jobs queued or running", st)
		}
		close(release)
		wg.Wait()
		close(results)
		for err := range results {
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
		}
		if _, err := f.Wait(context.Background()); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if p := peak.Load(); p != 2 {
			t.Fatalf("peak of %d attempts at once, want 2", p)
		}
	})
}

// A first attempt waits for its key like any other: Do on a paused key
// starts no attempt before the pause ends, then runs it on a worker.
func TestDoWaitsForKeyPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New()
		defer s.Close()
		start := time.Now()
		s.PauseKey("h", 2*time.Second)
		var at time.Duration
		var worker bool
		_, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
			at, worker = time.Since(start), onWorker()
			return 1, nil
		}, job.Key("h"))
		if err != nil || at < 2*time.Second || !worker {
			t.Fatalf("Do on a paused key: err %v, attempt at %v on a worker %v; want nil, >= 2s, true", err, at, worker)
		}
		// The inline attempt's own hint pauses the key for the next caller.
		_, err = scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
			return 0, job.Permanent(job.RetryAfter(errBoom, 3*time.Second))
		}, job.Key("h"))
		if err == nil {
			t.Fatal("a permanent error succeeded")
		}
		hinted := time.Now()
		if _, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
			at = time.Since(hinted)
			return 1, nil
		}, job.Key("h")); err != nil || at < 3*time.Second {
			t.Fatalf("after a hint: err %v, attempt %v after it; want nil, >= 3s", err, at)
		}
	})
}

// The caller's context ends an inline attempt through the attempt's context
// and the job with its cause; a context ended before Do makes no attempt.
func TestDoContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New()
		defer s.Close()
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("caller gone")
		time.AfterFunc(time.Second, func() { cancel(cause) })
		_, err := scheduler.Do(s, ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if je := jobError(t, err); je.Reason != cause || !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v; want Reason %v with the attempt's context.Canceled", err, cause)
		}
		called := false
		_, err = scheduler.Do(s, ctx, func(context.Context) (int, error) { called = true; return 1, nil })
		if je := jobError(t, err); je.Reason != cause || called {
			t.Fatalf("Do with an ended context: %v, called %v; want Reason %v and no attempt", err, called, cause)
		}
		checkEnded(t, s)
	})
}

// A job of Do that waits, for its retry or for its key, ends as soon as
// its context does, as a submitted job would: its inline first attempt
// registered it with its context only when it had to wait.
func TestDoContextEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New()
		defer s.Close()
		gone := errors.New("caller gone")
		for _, tc := range []struct {
			name  string
			setup func()
			op    func(context.Context) (int, error)
		}{
			{"parked retry", func() {}, func(context.Context) (int, error) { return 0, errBoom }},
			{"paused key", func() { s.PauseKey("h", time.Hour) }, func(context.Context) (int, error) { return 1, nil }},
		} {
			tc.setup()
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(time.Second, func() { cancel(gone) })
			start := time.Now()
			_, err := scheduler.Do(s, ctx, tc.op, constant(time.Hour), job.Key("h"), job.MaxWait(2*time.Hour))
			if je := jobError(t, err); je.Reason != gone {
				t.Errorf("%s: %v; want Reason %v", tc.name, err, gone)
			}
			if d := time.Since(start); d != time.Second {
				t.Errorf("%s: Do returned after %v, want 1s (when its context ended)", tc.name, d)
			}
		}
		checkEnded(t, s)
	})
}

// Close during an inline attempt cancels it and ends the job with
// job.ErrClosed; Do on a closed scheduler makes no attempt; no goroutine is
// left (goleak, at the end of the package's tests).
func TestDoShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New()
		started := make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := scheduler.Do(s, context.Background(), func(ctx context.Context) (int, error) {
				close(started)
				<-ctx.Done()
				return 0, ctx.Err()
			})
			done <- err
		}()
		<-started
		s.Close()
		if je := jobError(t, <-done); je.Reason != job.ErrClosed {
			t.Fatalf("Do during Close: Reason %v, want job.ErrClosed", je.Reason)
		}
		called := false
		_, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) { called = true; return 1, nil })
		if je := jobError(t, err); je.Reason != job.ErrClosed || called {
			t.Fatalf("Do after Close: %v, called %v; want job.ErrClosed and no attempt", err, called)
		}
		st := checkEnded(t, s)
		if st.Submitted != 2 || st.Canceled != 2 {
			t.Fatalf("stats %+v: want 2 submitted, 2 canceled", st)
		}
	})
}

// An inline attempt that overruns its AttemptTimeout by the grace is
// abandoned like a worker's: the job resolves (Do still returns only when
// the caller's own attempt does), and the place it held serves other jobs.
func TestDoAbandonedAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(time.Second))
		defer s.Close()
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
				<-release // ignores its context
				return 1, nil
			}, job.AttemptTimeout(time.Second), job.MaxAttempts(1))
			done <- err
		}()
		time.Sleep(3 * time.Second)
		// Its place went to a new worker: another job runs meanwhile.
		if v, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) { return 2, nil }); v != 2 || err != nil {
			t.Fatalf("Do beside an abandoned attempt = %d, %v", v, err)
		}
		close(release)
		if je := jobError(t, <-done); je.Reason != job.ErrDeadline || !errors.Is(je, scheduler.ErrAbandoned) {
			t.Fatalf("abandoned Do: %v; want ErrDeadline, last ErrAbandoned", je)
		}
		if st := s.Stats(); st.Abandoned != 1 {
			t.Fatalf("stats %+v: want 1 abandoned", st)
		}
	})
}

// A job submitted while every place is held by inline attempts is queued
// without a wake (the places look busy); the caller that leaves a place
// starts a worker for it.
func TestDoLeavesPlaceToQueuedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1))
		defer s.Close()
		started, release := make(chan struct{}), make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := scheduler.Do(s, context.Background(), func(context.Context) (int, error) {
				close(started)
				<-release
				return 1, nil
			})
			done <- err
		}()
		<-started
		f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 2, nil })
		synctest.Wait()
		if isDone(f.Done()) {
			t.Fatal("a job ran while the only place was held")
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("Do: %v", err)
		}
		if v, err := await(t, f); v != 2 || err != nil {
			t.Fatalf("queued job = %d, %v", v, err)
		}
	})
}

// Do and Submit side by side, with retries, key limits and random fake
// durations: every call ends and the counts add up. A lost wake-up (a job
// queued while a caller held the place it counted on) would deadlock the
// bubble, which synctest reports.
func TestDoMixedLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(3), scheduler.WithKeyLimit(2), scheduler.WithQueueSize(20))
		defer s.Close()
		rnd := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex
		pause := func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(rnd.IntN(5)) * time.Millisecond
		}
		op := func(ctx context.Context) (int, error) {
			time.Sleep(pause())
			if pause() < 2*time.Millisecond {
				return 0, errBoom
			}
			return 1, nil
		}
		pol := constant(time.Millisecond, job.MaxAttempts(50))
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i := range 40 {
			key := job.Key([]string{"", "a", "b"}[i%3])
			wg.Go(func() {
				for j := range 50 {
					var err error
					if (i+j)%2 == 0 {
						_, err = scheduler.Do(s, context.Background(), op, pol, key)
					} else {
						_, err = scheduler.Submit(s, context.Background(), op, pol, key).Wait(context.Background())
					}
					if err != nil {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n != 0 {
			t.Fatalf("%d calls failed", n)
		}
		st := checkEnded(t, s)
		if st.Submitted != 2000 || st.Succeeded != 2000 {
			t.Fatalf("stats %+v: want 2000 submitted and succeeded", st)
		}
	})
}

// Misuse panics in the caller, as with Submit.
func TestDoMisuse(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	op := func(context.Context) (int, error) { return 1, nil }
	mustPanic(t, "scheduler: ", func() { scheduler.Do(nil, context.Background(), op) })
	mustPanic(t, "scheduler: ", func() { scheduler.Do(s, nil, op) }) //nolint:staticcheck // the misuse under test
	mustPanic(t, "scheduler: ", func() { scheduler.Do[int](s, context.Background(), nil) })
}

// Do's success path, its first attempt inline: one allocation for the job
// and its attempt's context, with or without a key (a key's state, made
// for the job's life, reuses the last dropped key's).
func TestDoInlineAllocs(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(2))
	defer s.Close()
	ctx := context.Background()
	p := job.NewPolicy(job.MaxAttempts(3))
	key := job.Key("k") // boxed once: Do's own cost is what is counted
	for _, tt := range []struct {
		name string
		opts []job.Option
		want float64
	}{
		{"Policy", []job.Option{p}, 1},
		{"Policy and Key", []job.Option{p, key}, 1},
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := scheduler.Do(s, ctx, trivial, tt.opts...); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > tt.want {
			t.Errorf("%s: Do allocates %v times per call, want %v", tt.name, allocs, tt.want)
		}
	}
}
