package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// starts records, per job name, the time (a synctest bubble's) at which
// each attempt began.
type starts struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func newStarts() *starts { return &starts{at: map[string][]time.Time{}} }

func (s *starts) record(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[name] = append(s.at[name], time.Now())
}

func (s *starts) of(name string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at[name]...)
}

// op returns an operation that records its starts under name and succeeds.
func (s *starts) op(name string) func(context.Context) error {
	return func(context.Context) error { s.record(name); return nil }
}

// TestKeyLimit: with WithKeyLimit(2), a saturated key's jobs wait without
// holding a worker, and jobs of another key run past them.
func TestKeyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyLimit(2), scheduler.WithWorkers(3))
		defer s.Close()
		b := newBlocker()
		defer b.open()
		var runningA, maxA atomic.Int32
		opA := func(ctx context.Context) (int, error) {
			n := runningA.Add(1)
			defer runningA.Add(-1)
			for m := maxA.Load(); n > m && !maxA.CompareAndSwap(m, n); m = maxA.Load() {
			}
			return b.op(ctx)
		}
		var fa []*job.Future[int]
		for range 5 {
			fa = append(fa, scheduler.Submit(s, context.Background(), opA, job.Key("a")))
		}
		synctest.Wait()
		if st := s.Stats(); st.Running != 2 || st.Waiting != 3 || st.Keys != 1 {
			t.Fatalf("Stats() Running %d, Waiting %d, Keys %d; want 2, 3, 1", st.Running, st.Waiting, st.Keys)
		}
		if ks, ok := s.KeyStats("a"); !ok || ks.Running != 2 || ks.Waiting != 3 {
			t.Fatalf("Key(a) = %+v, %v; want Running 2, Waiting 3, true", ks, ok)
		}
		// Key b runs at once on the one worker left, several times over.
		for i := range 3 {
			f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return i, nil }, job.Key("b"))
			if v, err := await(t, f); v != i || err != nil {
				t.Fatalf("job %d of key b: Wait() = %d, %v; want %d, nil", i, v, err, i)
			}
		}
		if ks, ok := s.KeyStats("b"); ok {
			t.Errorf("Key(b) = %+v, true after its jobs ended; want dropped", ks)
		}
		b.open()
		for i, f := range fa {
			if _, err := await(t, f); err != nil {
				t.Errorf("job %d of key a: %v", i, err)
			}
		}
		if got := maxA.Load(); got != 2 {
			t.Errorf("at most %d attempts of key a ran at once, want 2", got)
		}
		if _, ok := s.KeyStats("a"); ok || s.Stats().Keys != 0 {
			t.Errorf("Key(a) kept (Stats().Keys = %d) after its jobs ended; want dropped", s.Stats().Keys)
		}
		s.Close()
		checkEnded(t, s)
	})
}

// TestKeyLimitCountsRunningAttempts: WithKeyLimit bounds the attempts of a
// key running at once; a job of the key parked for its retry holds no slot,
// so it does not keep the key's other jobs waiting through its backoff.
func TestKeyLimitCountsRunningAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyLimit(1), scheduler.WithWorkers(4))
		defer s.Close()
		a1 := s.Go(context.Background(), func(ctx context.Context) error {
			if job.AttemptFrom(ctx) == 1 {
				return errBoom
			}
			return nil
		}, constant(time.Hour), job.Key("A"))
		synctest.Wait()
		if ks, _ := s.KeyStats("A"); ks.Running != 0 {
			t.Errorf("Key(A).Running = %d while its only job is parked, want 0", ks.Running)
		}
		a2 := s.Go(context.Background(), func(context.Context) error { return nil }, job.Key("A"))
		synctest.Wait()
		if !isDone(a2.Done()) {
			t.Errorf("a job of key A waits for the slot of a parked job (Stats() %+v)", s.Stats())
		}
		time.Sleep(time.Hour)
		await(t, a1)
		await(t, a2)
		s.Close()
		checkEnded(t, s)
	})
}

// TestKeyLimitWaitingJobsEnd: jobs waiting for a slot of their key end at
// once when canceled or closed.
func TestKeyLimitWaitingJobsEnd(t *testing.T) {
	for _, how := range []string{"Future.Cancel", "Close"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithKeyLimit(1), scheduler.WithWorkers(4))
				defer s.Close()
				b := newBlocker()
				defer b.open()
				scheduler.Submit(s, context.Background(), b.op, job.Key("a"))
				recv(t, b.started, "first job started")
				f := s.Go(context.Background(), func(context.Context) error { return nil }, job.Key("a"))
				synctest.Wait()
				want := context.Canceled
				if how == "Close" {
					want = job.ErrClosed
					s.Close()
				} else {
					f.Cancel()
				}
				if !isDone(f.Done()) {
					t.Fatal("waiting job did not resolve at once")
				}
				_, err := f.Wait(context.Background())
				if je := jobError(t, err); je.Reason != want || je.Attempts != 0 {
					t.Errorf("err = %v, want Reason %v after 0 attempts", err, want)
				}
				b.open()
				s.Close()
				checkEnded(t, s)
			})
		})
	}
}

// TestKeyWaitingCountsLiveJobs: a waiting job that was canceled no longer
// counts in Stats().Waiting or Key().Waiting, and the counters still add up
// (Submitted = Succeeded + GaveUp + Canceled + in flight).
func TestKeyWaitingCountsLiveJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyLimit(1), scheduler.WithWorkers(4))
		defer s.Close()
		b := newBlocker()
		defer b.open()
		scheduler.Submit(s, context.Background(), b.op, job.Key("a"))
		recv(t, b.started, "first job started")
		nop := func(context.Context) error { return nil }
		f2 := s.Go(context.Background(), nop, job.Key("a"))
		f3 := s.Go(context.Background(), nop, job.Key("a"))
		synctest.Wait()
		if got := s.Stats().Waiting; got != 2 {
			t.Fatalf("Stats().Waiting = %d, want 2", got)
		}
		f2.Cancel()
		st := s.Stats()
		if st.Waiting != 1 {
			t.Errorf("Stats().Waiting = %d after canceling one of 2 waiting jobs, want 1", st.Waiting)
		}
		if ks, _ := s.KeyStats("a"); ks.Waiting != 1 {
			t.Errorf("Key(a).Waiting = %d after canceling one of 2 waiting jobs, want 1", ks.Waiting)
		}
		inFlight := uint64(st.Queued + st.Running + st.Parked + st.Waiting)
		if sum := st.Succeeded + st.GaveUp + st.Canceled + inFlight; st.Submitted != sum {
			t.Errorf("Stats().Submitted = %d, want Succeeded+GaveUp+Canceled+in flight = %d (%+v)", st.Submitted, sum, st)
		}
		b.open()
		await(t, f3)
		s.Close()
		checkEnded(t, s)
	})
}

// TestKeyRetryAfterPause: a Retry-After hint pauses its key: no attempt of
// the key starts before the hint has passed (jobs already waiting for the
// key, jobs submitted during the pause, the hinted job itself), other keys
// run meanwhile, and the key is dropped once idle.
func TestKeyRetryAfterPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		pauseEnd := t0.Add(10 * time.Second)
		s := scheduler.New(scheduler.WithWorkers(4), scheduler.WithKeyLimit(1))
		defer s.Close()
		rec := newStarts()
		pol := constant(time.Millisecond) // the hint is longer than the policy's wait
		hint := make(chan struct{})
		a1 := s.Go(context.Background(), func(ctx context.Context) error {
			rec.record("a1")
			if job.AttemptFrom(ctx) == 1 {
				<-hint
				return job.RetryAfter(errBoom, 10*time.Second)
			}
			return nil
		}, pol, job.Key("A"))
		synctest.Wait()
		a2 := s.Go(context.Background(), rec.op("a2"), pol, job.Key("A")) // waits for A's slot
		synctest.Wait()
		if got := s.Stats().Waiting; got != 1 {
			t.Fatalf("Stats().Waiting = %d, want 1", got)
		}
		close(hint)
		synctest.Wait()
		if ks, ok := s.KeyStats("A"); !ok || ks.Paused != 10*time.Second {
			t.Errorf("Key(A) = %+v, %v; want Paused 10s", ks, ok)
		}
		if st := s.Stats(); st.PausedKeys != 1 || st.Pauses != 1 || st.Parked+st.Waiting != 2 {
			t.Errorf("Stats() PausedKeys %d, Pauses %d, Parked+Waiting %d; want 1, 1, 2", st.PausedKeys, st.Pauses, st.Parked+st.Waiting)
		}
		a3 := s.Go(context.Background(), rec.op("a3"), pol, job.Key("A")) // new during the pause
		b1 := s.Go(context.Background(), rec.op("b1"), pol, job.Key("B"))
		if _, err := await(t, b1); err != nil {
			t.Fatalf("key B during A's pause: %v", err)
		}

		time.Sleep(9 * time.Second)
		synctest.Wait()
		b2 := s.Go(context.Background(), rec.op("b2"), pol, job.Key("B"))
		if _, err := await(t, b2); err != nil {
			t.Fatalf("key B during A's pause: %v", err)
		}
		if n1, n2, n3 := len(rec.of("a1")), len(rec.of("a2")), len(rec.of("a3")); n1 != 1 || n2 != 0 || n3 != 0 {
			t.Fatalf("at 9s, attempts of A: a1 %d, a2 %d, a3 %d; want 1, 0, 0", n1, n2, n3)
		}
		if ks, _ := s.KeyStats("A"); ks.Paused != time.Second {
			t.Errorf("at 9s, Key(A).Paused = %v, want 1s", ks.Paused)
		}

		time.Sleep(6 * time.Second) // past the pause and the spread of the resumption (a quarter of the pause)
		for name, f := range map[string]*job.Future[struct{}]{"a1": a1, "a2": a2, "a3": a3} {
			if _, err := await(t, f); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		for _, name := range []string{"a1", "a2", "a3"} {
			at := rec.of(name)
			if name == "a1" {
				at = at[1:]
			}
			for _, tm := range at {
				if tm.Before(pauseEnd) || tm.After(pauseEnd.Add(2500*time.Millisecond)) {
					t.Errorf("%s started at %v, want in [10s, 12.5s] (the pause and its spread)", name, tm.Sub(t0))
				}
			}
		}
		if b2at := rec.of("b2"); len(b2at) != 1 || b2at[0].Sub(t0) != 9*time.Second {
			t.Errorf("b2 started at %v, want at 9s (key B is not paused)", b2at)
		}
		if ks, ok := s.KeyStats("A"); ok {
			t.Errorf("Key(A) = %+v, true after its jobs ended; want dropped", ks)
		}
		s.Close()
		if st := checkEnded(t, s); st.Keys != 0 || st.PausedKeys != 0 {
			t.Errorf("Stats() Keys %d, PausedKeys %d; want 0, 0", st.Keys, st.PausedKeys)
		}
	})
}

// TestKeyOverlappingHints: two hints on one key: the later end wins,
// whichever arrives first.
func TestKeyOverlappingHints(t *testing.T) {
	cases := []struct {
		name          string
		first, second time.Duration
	}{
		{"longer-first", 20 * time.Second, 10 * time.Second},
		{"shorter-first", 10 * time.Second, 20 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				t0 := time.Now()
				s := scheduler.New(scheduler.WithWorkers(4))
				defer s.Close()
				rec := newStarts()
				hinted := func(name string, d time.Duration, release <-chan struct{}) func(context.Context) error {
					return func(ctx context.Context) error {
						rec.record(name)
						if job.AttemptFrom(ctx) == 1 {
							<-release
							return job.RetryAfter(errBoom, d)
						}
						return nil
					}
				}
				r1, r2 := make(chan struct{}), make(chan struct{})
				pol := constant(time.Millisecond)
				f1 := s.Go(context.Background(), hinted("first", c.first, r1), pol, job.Key("A"))
				f2 := s.Go(context.Background(), hinted("second", c.second, r2), pol, job.Key("A"))
				synctest.Wait()
				close(r1)
				synctest.Wait()
				close(r2)
				synctest.Wait()
				if ks, _ := s.KeyStats("A"); ks.Paused != 20*time.Second {
					t.Errorf("Key(A).Paused = %v, want 20s", ks.Paused)
				}
				time.Sleep(20*time.Second - time.Millisecond)
				synctest.Wait()
				if n1, n2 := len(rec.of("first")), len(rec.of("second")); n1 != 1 || n2 != 1 {
					t.Fatalf("before 20s: %d and %d attempts, want 1 and 1", n1, n2)
				}
				time.Sleep(10 * time.Second)
				await(t, f1)
				await(t, f2)
				for _, name := range []string{"first", "second"} {
					for _, tm := range rec.of(name)[1:] {
						if d := tm.Sub(t0); d < 20*time.Second {
							t.Errorf("%s retried at %v, want >= 20s", name, d)
						}
					}
				}
				s.Close()
				checkEnded(t, s)
			})
		})
	}
}

// TestKeyPausedJobCanceled: a job waiting out its key's pause ends at once
// when canceled, through its future or its context.
func TestKeyPausedJobCanceled(t *testing.T) {
	for _, how := range []string{"Future.Cancel", "ctx"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(2))
				defer s.Close()
				a1 := s.Go(context.Background(), func(ctx context.Context) error {
					if job.AttemptFrom(ctx) == 1 {
						return job.RetryAfter(errBoom, 10*time.Second)
					}
					return nil
				}, constant(time.Millisecond), job.Key("A"))
				synctest.Wait()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ran := make(chan struct{})
				a2 := s.Go(ctx, func(context.Context) error { close(ran); return nil }, job.Key("A"))
				synctest.Wait()
				if got := s.Stats().Parked; got != 2 {
					t.Fatalf("Stats().Parked = %d, want 2", got)
				}
				if how == "ctx" {
					cancel()
					synctest.Wait()
				} else {
					a2.Cancel()
				}
				if !isDone(a2.Done()) {
					t.Fatal("paused job did not resolve at once")
				}
				_, err := a2.Wait(context.Background())
				if je := jobError(t, err); je.Reason != context.Canceled || je.Attempts != 0 {
					t.Errorf("err = %v, want Reason context.Canceled after 0 attempts", err)
				}
				if got := s.Stats().Parked; got != 1 {
					t.Errorf("Stats().Parked = %d after the cancel, want 1", got)
				}
				time.Sleep(15 * time.Second) // past the pause and its spread
				if _, err := await(t, a1); err != nil {
					t.Errorf("a1: %v", err)
				}
				if isDone(ran) {
					t.Error("the canceled job ran")
				}
				if _, ok := s.KeyStats("A"); ok {
					t.Error("Key(A) kept after its jobs ended; want dropped")
				}
				s.Close()
				checkEnded(t, s)
			})
		})
	}
}

// TestKeyIdleAfterPauseDropped: a key whose last job ended while the key
// was paused is dropped once the pause is over ("idle key state is
// dropped"), whatever ended that job.
func TestKeyIdleAfterPauseDropped(t *testing.T) {
	cases := []struct {
		name  string
		hint  time.Duration
		opts  []job.Option
		end   func(f *job.Future[struct{}])
		pause time.Duration
	}{
		{"last-job-canceled-while-parked", 10 * time.Second, nil,
			func(f *job.Future[struct{}]) { f.Cancel() }, 10 * time.Second},
		{"last-job-gave-up-on-a-hint-above-MaxWait", 2 * time.Minute, []job.Option{job.MaxWait(time.Minute)},
			func(*job.Future[struct{}]) {}, 2 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New()
				defer s.Close()
				f := s.Go(context.Background(), func(context.Context) error {
					return job.RetryAfter(errBoom, c.hint)
				}, append([]job.Option{job.Key("A")}, c.opts...)...)
				synctest.Wait()
				c.end(f)
				await(t, f)
				time.Sleep(c.pause)
				synctest.Wait()
				if ks, ok := s.KeyStats("A"); ok {
					t.Errorf("after the pause: Key(A) = %+v, true; want dropped (the key is idle)", ks)
				}
				if st := s.Stats(); st.Keys != 0 {
					t.Errorf("after the pause: Stats().Keys = %d, want 0", st.Keys)
				}
			})
		})
	}
}

// TestKeyPauseSpreadsResumption: jobs of a key that all got the same hint
// resume spread out, not in a burst at the end of the pause.
func TestKeyPauseSpreadsResumption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		t0 := time.Now()
		s := scheduler.New(scheduler.WithWorkers(n))
		defer s.Close()
		rec := newStarts()
		release := make(chan struct{})
		var fs []*job.Future[struct{}]
		for range n {
			fs = append(fs, s.Go(context.Background(), func(ctx context.Context) error {
				if job.AttemptFrom(ctx) == 1 {
					<-release
					return job.RetryAfter(errBoom, 10*time.Second)
				}
				rec.record("retry")
				return nil
			}, constant(time.Millisecond), job.Key("A")))
		}
		synctest.Wait()
		close(release)
		time.Sleep(20 * time.Second)
		for _, f := range fs {
			await(t, f)
		}
		distinct := map[time.Duration]bool{}
		for _, tm := range rec.of("retry") {
			d := tm.Sub(t0)
			if d < 10*time.Second {
				t.Errorf("retry at %v, before the pause ended", d)
			}
			distinct[d] = true
		}
		if len(distinct) < 2 {
			t.Errorf("all %d retries of the paused key started at %v: a burst, want them spread", n, distinct)
		}
	})
}

// TestKeyPauseRespectsDeadline: a key's pause does not make a job sleep
// past its deadline: by its deadline it has given up with job.ErrDeadline.
func TestKeyPauseRespectsDeadline(t *testing.T) {
	for _, which := range []string{"new-job", "retry"} {
		t.Run(which, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(4))
				defer s.Close()
				// a1 pauses key A for an hour (within its MaxWait).
				r1, r2 := make(chan struct{}), make(chan struct{})
				a1 := s.Go(context.Background(), func(ctx context.Context) error {
					if job.AttemptFrom(ctx) == 1 {
						<-r1
						return job.RetryAfter(errBoom, time.Hour)
					}
					return nil
				}, constant(time.Millisecond), job.Key("A"))
				var a2 *job.Future[struct{}]
				bounded := constant(time.Second, job.MaxElapsed(time.Minute))
				if which == "retry" {
					// a2 is running when the pause begins, then fails
					// without a hint: its 1s retry falls in the pause.
					a2 = s.Go(context.Background(), func(ctx context.Context) error {
						if job.AttemptFrom(ctx) == 1 {
							<-r2
							return errBoom
						}
						return nil
					}, bounded, job.Key("A"))
				}
				synctest.Wait()
				close(r1)
				synctest.Wait()
				if which == "new-job" {
					a2 = s.Go(context.Background(), func(context.Context) error { return nil }, bounded, job.Key("A"))
				} else {
					close(r2)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if !isDone(a2.Done()) {
					t.Fatalf("a job with MaxElapsed(1m) still waits for its key's 1h pause after 1m")
				}
				_, err := a2.Wait(context.Background())
				if !errors.Is(err, job.ErrDeadline) {
					t.Errorf("err = %v, want job.ErrDeadline", err)
				}
				time.Sleep(time.Hour)
				await(t, a1)
			})
		})
	}
}

// TestKeyStaleHintAfterAbandon: a hint is the last attempt's: when a later
// attempt (without a hint) is abandoned, the key is not paused again with
// the earlier attempt's hint.
func TestKeyStaleHintAfterAbandon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(time.Second))
		defer s.Close()
		b := newBlocker()
		b.ignoreCtx = true
		defer b.open()
		f := s.Go(context.Background(), func(ctx context.Context) error {
			if job.AttemptFrom(ctx) == 1 {
				return job.RetryAfter(errBoom, time.Second)
			}
			_, err := b.op(ctx) // hangs, ignoring its context
			return err
		}, constant(time.Millisecond, job.AttemptTimeout(time.Second)), job.Key("A"))
		time.Sleep(1250 * time.Millisecond) // past the pause and its spread
		recv(t, b.started, "second attempt started")
		time.Sleep(2 * time.Second) // AttemptTimeout + grace: abandoned
		_, err := await(t, f)
		if !errors.Is(err, scheduler.ErrAbandoned) {
			t.Fatalf("err = %v, want ErrAbandoned", err)
		}
		if got := s.Stats().Pauses; got != 1 {
			t.Errorf("Stats().Pauses = %d, want 1 (one hint was returned)", got)
		}
		if ks, ok := s.KeyStats("A"); ok && ks.Paused > 0 {
			t.Errorf("Key(A).Paused = %v after an abandoned attempt without a hint, want 0", ks.Paused)
		}
		g := s.Go(context.Background(), func(context.Context) error { return nil }, job.Key("A"))
		synctest.Wait()
		if !isDone(g.Done()) {
			t.Error("a new job of key A did not run at once")
		}
		b.open()
		await(t, g)
	})
}
