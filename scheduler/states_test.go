package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// The states a job can be in when it is made to end.
type jobState int

const (
	queued  jobState = iota // behind a job that holds the only worker
	running                 // in an attempt that blocks until its context ends
	parked                  // failed once, waiting an hour for its retry
)

// The ways a job can be made to end.
type jobExit int

const (
	ctxCancel      jobExit = iota // the job's context is canceled
	futureCancel                  // Future.Cancel
	shutdownDrain                 // Shutdown lets the job finish
	shutdownExpire                // Shutdown's ctx expires first
	closeNow                      // Close
)

// TestStateExit ends a queued, running or parked job in every way there is
// and checks that its future resolves once with the right Reason, keeps the
// last attempt's error, and that the counters add up.
func TestStateExit(t *testing.T) {
	states := []struct {
		name string
		st   jobState
	}{
		{"queued", queued},
		{"running", running},
		{"parked", parked},
	}
	exits := []struct {
		name       string
		ex         jobExit
		wantReason error // nil: the job succeeds
		wantShut   error // Shutdown's error
	}{
		{"ctx-cancel", ctxCancel, context.Canceled, nil},
		{"Future.Cancel", futureCancel, context.Canceled, nil},
		{"Shutdown-drains", shutdownDrain, nil, nil},
		{"Shutdown-ctx-expires", shutdownExpire, job.ErrClosed, context.DeadlineExceeded},
		{"Close", closeNow, job.ErrClosed, nil},
	}
	for _, st := range states {
		for _, ex := range exits {
			t.Run(st.name+"/"+ex.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					testStateExit(t, st.st, ex.ex, ex.wantReason, ex.wantShut)
				})
			})
		}
	}
}

func testStateExit(t *testing.T, st jobState, ex jobExit, wantReason, wantShut error) {
	s := scheduler.New(scheduler.WithWorkers(1))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pol := constant(time.Hour)

	// Bring the job f into state st.
	b := newBlocker()
	defer b.open()
	var f *job.Future[int]
	jobs := 1
	switch st {
	case queued:
		jobs = 2
		scheduler.Submit(s, context.Background(), b.op) // holds the worker
		recv(t, b.started, "blocker started")
		f = scheduler.Submit(s, ctx, func(context.Context) (int, error) { return 1, nil }, pol)
		synctest.Wait()
		if got := s.Stats(); got.Queued != 1 || got.Running != 1 {
			t.Fatalf("Stats() = Queued %d, Running %d; want 1, 1", got.Queued, got.Running)
		}
	case running:
		f = scheduler.Submit(s, ctx, b.op, pol)
		recv(t, b.started, "job started")
		if got := s.Stats().Running; got != 1 {
			t.Fatalf("Stats().Running = %d, want 1", got)
		}
	case parked:
		var calls atomic.Int32
		f = scheduler.Submit(s, ctx, func(context.Context) (int, error) {
			if calls.Add(1) == 1 {
				return 0, errBoom
			}
			return 1, nil
		}, pol)
		synctest.Wait()
		if got := s.Stats().Parked; got != 1 {
			t.Fatalf("Stats().Parked = %d, want 1", got)
		}
	}
	if isDone(f.Done()) {
		t.Fatal("future resolved before the exit")
	}

	// End it.
	var shutErr error
	switch ex {
	case ctxCancel:
		cancel()
	case futureCancel:
		f.Cancel()
	case shutdownDrain:
		errc := make(chan error, 1)
		go func() { errc <- s.Shutdown(context.Background()) }()
		synctest.Wait() // Shutdown has stopped intake and waits for the job
		if isDone(f.Done()) {
			t.Fatal("Shutdown ended the job instead of letting it finish")
		}
		if st == parked {
			time.Sleep(time.Hour) // the retry comes due
		} else {
			b.open()
		}
		shutErr = recv(t, errc, "Shutdown")
	case shutdownExpire:
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		defer scancel()
		shutErr = s.Shutdown(sctx)
	case closeNow:
		shutErr = s.Close()
	}
	if (st == queued || st == parked) && (ex == ctxCancel || ex == futureCancel) {
		// A waiting job ends at once, without any help from the test.
		synctest.Wait()
		if !isDone(f.Done()) {
			t.Fatal("canceled job did not resolve at once")
		}
	}

	v, err := await(t, f)
	if !errors.Is(shutErr, wantShut) {
		t.Errorf("Shutdown/Close = %v, want %v", shutErr, wantShut)
	}
	wantAttempts := map[jobState]int{queued: 0, running: 1, parked: 1}[st]
	if wantReason == nil {
		wantAttempts = map[jobState]int{queued: 1, running: 1, parked: 2}[st]
		if v != 1 || err != nil {
			t.Errorf("Wait() = %d, %v; want 1, nil", v, err)
		}
	} else {
		je := jobError(t, err)
		if !errors.Is(je.Reason, wantReason) {
			t.Errorf("Reason = %v, want %v", je.Reason, wantReason)
		}
		if st == queued {
			if je.Last != nil {
				t.Errorf("Last = %v, want nil (no attempt ran)", je.Last)
			}
		} else if !errors.Is(err, errBoom) {
			t.Errorf("err = %v, want it to keep the last attempt's error %v", err, errBoom)
		}
		if je.Attempts != wantAttempts {
			t.Errorf("Error.Attempts = %d, want %d", je.Attempts, wantAttempts)
		}
	}
	if got := f.Attempts(); got != wantAttempts {
		t.Errorf("Attempts() = %d, want %d", got, wantAttempts)
	}
	if _, err2 := f.Wait(context.Background()); err2 != err {
		t.Errorf("second Wait() error = %v, want the same %v", err2, err)
	}

	// The blocker of a queued job is released before Close when the
	// job was canceled on its own, and canceled by Shutdown or Close
	// otherwise.
	b.open()
	s.Close()
	got := checkEnded(t, s)
	var wantSucceeded, wantCanceled uint64
	if wantReason == nil {
		wantSucceeded++
	} else {
		wantCanceled++
	}
	if st == queued {
		if ex == ctxCancel || ex == futureCancel || ex == shutdownDrain {
			wantSucceeded++
		} else {
			wantCanceled++
		}
	}
	if got.Submitted != uint64(jobs) || got.Succeeded != wantSucceeded || got.Canceled != wantCanceled || got.GaveUp != 0 {
		t.Errorf("Stats() Submitted %d, Succeeded %d, Canceled %d, GaveUp %d; want %d, %d, %d, 0",
			got.Submitted, got.Succeeded, got.Canceled, got.GaveUp, jobs, wantSucceeded, wantCanceled)
	}
}

// TestSubmitAfterEnd: once Shutdown or Close has begun, Submit, Go and Map
// give futures already resolved with job.ErrClosed and no attempt; TrySubmit
// and TryGo accept nothing and say job.ErrClosed.
func TestSubmitAfterEnd(t *testing.T) {
	ends := []struct {
		name string
		end  func(*scheduler.Scheduler)
	}{
		{"Shutdown", func(s *scheduler.Scheduler) { _ = s.Shutdown(context.Background()) }},
		{"Close", func(s *scheduler.Scheduler) { _ = s.Close() }},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			s := scheduler.New()
			e.end(s)
			var ran atomic.Bool
			op := func(context.Context) (int, error) { ran.Store(true); return 1, nil }
			// TrySubmit and TryGo do not accept the job: nil and ErrClosed.
			if tf, err := scheduler.TrySubmit(s, context.Background(), op); tf != nil || !errors.Is(err, job.ErrClosed) {
				t.Errorf("TrySubmit = %v, %v; want nil, job.ErrClosed", tf, err)
			}
			if tg, err := s.TryGo(context.Background(), func(context.Context) error { return nil }); tg != nil || !errors.Is(err, job.ErrClosed) {
				t.Errorf("TryGo = %v, %v; want nil, job.ErrClosed", tg, err)
			}
			futures := map[string]*job.Future[int]{
				"Submit": scheduler.Submit(s, context.Background(), op),
			}
			for name, f := range futures {
				if !isDone(f.Done()) {
					t.Fatalf("%s: future not resolved at once", name)
				}
				_, err := f.Wait(context.Background())
				if je := jobError(t, err); je.Reason != job.ErrClosed || je.Attempts != 0 || je.Last != nil {
					t.Errorf("%s: err = %v (Reason %v, Attempts %d, Last %v), want Reason job.ErrClosed, 0 attempts, no Last",
						name, err, je.Reason, je.Attempts, je.Last)
				}
			}
			g := s.Go(context.Background(), func(context.Context) error { ran.Store(true); return nil })
			if _, err := g.Wait(context.Background()); !errors.Is(err, job.ErrClosed) {
				t.Errorf("Go: err = %v, want job.ErrClosed", err)
			}
			rs := scheduler.MapAll(s, context.Background(), []int{1, 2}, func(context.Context, int) (int, error) { ran.Store(true); return 1, nil })
			for _, r := range rs {
				if !errors.Is(r.Err, job.ErrClosed) {
					t.Errorf("Map result %d: Err = %v, want job.ErrClosed", r.Index, r.Err)
				}
			}
			if ran.Load() {
				t.Error("an operation ran after the scheduler ended")
			}
			if st := checkEnded(t, s); st.Submitted != 4 || st.Canceled != 4 {
				t.Errorf("Stats() Submitted %d, Canceled %d; want 4, 4 (Submit, Go, two Map inputs)", st.Submitted, st.Canceled)
			}
		})
	}
}

// TestTrySubmitFull: with WithQueueSize(1), a running or a parked job fills
// the scheduler, and TrySubmit and TryGo fail at once with ErrQueueFull.
func TestTrySubmitFull(t *testing.T) {
	for _, st := range []jobState{running, parked} {
		t.Run(map[jobState]string{running: "running", parked: "parked"}[st], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithQueueSize(1), scheduler.WithWorkers(4))
				defer s.Close()
				b := newBlocker()
				defer b.open()
				if st == running {
					scheduler.Submit(s, context.Background(), b.op)
					recv(t, b.started, "job started")
				} else {
					s.Go(context.Background(), func(context.Context) error { return errBoom }, constant(time.Hour))
					synctest.Wait()
					if got := s.Stats().Parked; got != 1 {
						t.Fatalf("Stats().Parked = %d, want 1", got)
					}
				}
				f, err := scheduler.TrySubmit(s, context.Background(), func(context.Context) (int, error) { return 1, nil })
				if f != nil || !errors.Is(err, scheduler.ErrQueueFull) {
					t.Errorf("TrySubmit = %v, %v; want nil, ErrQueueFull", f, err)
				}
				g, err := s.TryGo(context.Background(), func(context.Context) error { return nil })
				if g != nil || !errors.Is(err, scheduler.ErrQueueFull) {
					t.Errorf("TryGo = %v, %v; want nil, ErrQueueFull", g, err)
				}
				if got := s.Stats().Submitted; got != 1 {
					t.Errorf("Stats().Submitted = %d, want 1 (ErrQueueFull is not counted)", got)
				}
			})
		})
	}
}

// TestSubmitBlocksWhenFull: Submit on a full scheduler blocks until a job
// ends, its ctx ends, or the scheduler shuts down.
func TestSubmitBlocksWhenFull(t *testing.T) {
	cases := []struct {
		name       string
		wantReason error // nil: admitted and run
	}{
		{"until-a-job-ends", nil},
		{"until-its-ctx-ends", context.Canceled},
		{"until-Shutdown", job.ErrClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithQueueSize(1), scheduler.WithWorkers(4))
				defer s.Close()
				b := newBlocker()
				defer b.open()
				held := scheduler.Submit(s, context.Background(), b.op)
				recv(t, b.started, "first job started")

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ran := make(chan struct{})
				submitted := make(chan *job.Future[int], 1)
				go func() {
					submitted <- scheduler.Submit(s, ctx, func(context.Context) (int, error) {
						close(ran)
						return 2, nil
					})
				}()
				synctest.Wait()
				select {
				case <-submitted:
					t.Fatal("Submit returned while the scheduler was full")
				default:
				}
				if got := s.Stats().Submitted; got != 1 {
					t.Fatalf("Stats().Submitted = %d while Submit blocks, want 1", got)
				}

				shutErr := make(chan error, 1)
				switch c.name {
				case "until-a-job-ends":
					b.open()
				case "until-its-ctx-ends":
					cancel()
				case "until-Shutdown":
					go func() { shutErr <- s.Shutdown(context.Background()) }()
				}
				f := recv(t, submitted, "Submit")
				v, err := await(t, f)
				if c.wantReason == nil {
					if v != 2 || err != nil {
						t.Errorf("Wait() = %d, %v; want 2, nil", v, err)
					}
				} else {
					je := jobError(t, err)
					if je.Reason != c.wantReason || je.Attempts != 0 {
						t.Errorf("err = %v (Reason %v, Attempts %d); want Reason %v, 0 attempts", err, je.Reason, je.Attempts, c.wantReason)
					}
					if isDone(ran) {
						t.Error("the rejected job's operation ran")
					}
				}
				b.open()
				if _, err := await(t, held); err != nil {
					t.Errorf("held job: %v", err)
				}
				if c.name == "until-Shutdown" {
					if err := recv(t, shutErr, "Shutdown"); err != nil {
						t.Errorf("Shutdown = %v, want nil", err)
					}
				}
				s.Close()
				checkEnded(t, s)
			})
		})
	}
}

// TestRetryRunsBeforeFreshJobs: on one worker, a retry that comes due while
// fresh submissions are queued runs before them.
func TestRetryRunsBeforeFreshJobs(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("wait=%v", delay), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(1))
				defer s.Close()
				var mu sync.Mutex
				var order []string
				record := func(what string) {
					mu.Lock()
					defer mu.Unlock()
					order = append(order, what)
				}
				release := make(chan struct{})
				// The retrying job: with a zero wait its first attempt holds
				// the worker until the fresh jobs are queued; with a 1s wait
				// a blocker holds the worker while its retry comes due.
				r := s.Go(context.Background(), func(ctx context.Context) error {
					n := job.AttemptFrom(ctx)
					record(fmt.Sprintf("retry#%d", n))
					if n == 1 {
						if delay == 0 {
							<-release
						}
						return errBoom
					}
					return nil
				}, constant(delay))
				var futures []*job.Future[struct{}]
				if delay > 0 {
					synctest.Wait() // the first attempt has failed and parked
					futures = append(futures, s.Go(context.Background(), func(context.Context) error {
						record("blocker")
						<-release
						return nil
					}))
				}
				synctest.Wait()
				for i := range 10 {
					futures = append(futures, s.Go(context.Background(), func(context.Context) error {
						record(fmt.Sprint("fresh", i))
						return nil
					}))
				}
				if delay > 0 {
					time.Sleep(delay)
					synctest.Wait() // the timer goroutine has made the retry ready
					if got := s.Stats().Parked; got != 0 {
						t.Fatalf("Stats().Parked = %d after the retry came due, want 0", got)
					}
				}
				close(release)
				if _, err := await(t, r); err != nil {
					t.Fatalf("retrying job: %v", err)
				}
				for _, f := range futures {
					await(t, f)
				}
				mu.Lock()
				defer mu.Unlock()
				want := []string{"retry#1", "retry#2"}
				if delay > 0 {
					want = []string{"retry#1", "blocker", "retry#2"}
				}
				for i := range 10 {
					want = append(want, fmt.Sprint("fresh", i))
				}
				if !slices.Equal(order, want) {
					t.Errorf("order = %v, want %v", order, want)
				}
			})
		})
	}
}

// TestTimerRearmsForEveryRetry, a test of the clock mock seam (WithClock
// and WaitSettled, as users drive them): a lone job retries every second;
// before each advance of the mock its retry must be on the heap with the
// timer armed for it. The mock holds many idle timers so that re-arming the
// heap's timer is slow, which opens the window in which the retry parks
// while the timer goroutine is between computing its next due time and
// recording it: a retry parked there must not be left without a timer.
func TestTimerRearmsForEveryRetry(t *testing.T) {
	mock := clock.NewMock()
	for range 50_000 {
		mock.AfterFunc(1000*time.Hour, func() {}) // never fire
	}
	s := scheduler.New(scheduler.WithClock(mock), scheduler.WithWorkers(1))
	defer s.Close()
	f := s.Go(context.Background(), func(context.Context) error { return errBoom }, constant(time.Second, job.MaxAttempts(0)))
	for round := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := s.WaitSettled(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: the parked retry has no timer: WaitSettled: %v (Stats() %+v)", round, err, s.Stats())
		}
		mock.Add(time.Second)
	}
	f.Cancel()
	await(t, f)
}

// TestWaitSettledHoldsUntilAdd, a test of the clock mock seam: once
// WaitSettled has returned, the heap's timer stays armed as reported until
// the mock moves, so that the next mock.Add fires it. Each round parks a
// fresh scheduler's first retry (the first park also wakes the timer
// goroutine), settles, advances the mock by the wait and expects the retry.
// Losing the race this test looks for is rare per round, so it runs many
// rounds and stops at the first loss.
func TestWaitSettledHoldsUntilAdd(t *testing.T) {
	mock := clock.NewMock()
	rounds := scale(2000, 300)
	for round := range rounds {
		s := scheduler.New(scheduler.WithClock(mock), scheduler.WithWorkers(1))
		retried := make(chan struct{}, 1)
		f := s.Go(context.Background(), func(ctx context.Context) error {
			if job.AttemptFrom(ctx) == 1 {
				return errBoom
			}
			return nil
		}, constant(time.Second, job.OnRetry(func(job.Event) { retried <- struct{}{} })))
		recv(t, retried, "OnRetry")
		settle(t, s)
		mock.Add(time.Second)
		tm := time.NewTimer(5 * time.Second)
		select {
		case <-f.Done():
			tm.Stop()
		case <-tm.C:
			s.Close()
			t.Fatalf("round %d of %d: WaitSettled returned, then mock.Add(1s) did not fire the 1s retry (the timer was re-armed after the handshake)", round, rounds)
		}
		s.Close()
	}
}

// TestAbandonAtShutdown: an attempt that ignores its context is abandoned
// once the grace has passed; its future resolves with job.ErrClosed and
// ErrAbandoned, and Stats counts it.
func TestAbandonAtShutdown(t *testing.T) {
	cases := []struct {
		name     string
		grace    time.Duration
		shutdown bool // Shutdown with an expiring ctx rather than Close
	}{
		{"Close/grace=0", 0, false},
		{"Close/grace=1s", time.Second, false},
		{"Shutdown/grace=1s", time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithGrace(c.grace), scheduler.WithWorkers(1))
				b := newBlocker()
				b.ignoreCtx = true
				f := scheduler.Submit(s, context.Background(), b.op)
				recv(t, b.started, "job started")

				start := time.Now()
				var end error
				wantEnd := error(nil)
				if c.shutdown {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					end, wantEnd = s.Shutdown(ctx), context.DeadlineExceeded
				} else {
					end = s.Close()
				}
				if !errors.Is(end, wantEnd) {
					t.Errorf("Shutdown/Close = %v, want %v", end, wantEnd)
				}
				// The bubble's clock: Close waited the grace; Shutdown its
				// ctx and then the grace.
				wantWaited := c.grace
				if c.shutdown {
					wantWaited += time.Second
				}
				if waited := time.Since(start); waited != wantWaited {
					t.Errorf("returned after %v, want %v", waited, wantWaited)
				}
				if !isDone(f.Done()) {
					t.Fatal("abandoned job's future not resolved when Close returned")
				}
				_, err := f.Wait(context.Background())
				je := jobError(t, err)
				if je.Reason != job.ErrClosed || !errors.Is(err, scheduler.ErrAbandoned) {
					t.Errorf("err = %v, want Reason job.ErrClosed and ErrAbandoned", err)
				}
				if st := checkEnded(t, s); st.Abandoned != 1 || st.Canceled != 1 {
					t.Errorf("Stats() Abandoned %d, Canceled %d; want 1, 1", st.Abandoned, st.Canceled)
				}
				b.open() // the abandoned goroutine ends now
			})
		})
	}
}

// TestAttemptTimeoutOverrun: an attempt that ignores its context past its
// AttemptTimeout plus the grace is abandoned with job.ErrDeadline, and its
// worker is replaced: the 1-worker scheduler still runs jobs.
func TestAttemptTimeoutOverrun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(time.Second))
		defer s.Close()
		b := newBlocker()
		b.ignoreCtx = true
		defer b.open()
		f := scheduler.Submit(s, context.Background(), b.op, job.AttemptTimeout(time.Second))
		recv(t, b.started, "job started")

		time.Sleep(2*time.Second - time.Nanosecond)
		synctest.Wait()
		if isDone(f.Done()) {
			t.Fatal("attempt abandoned before AttemptTimeout + grace")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !isDone(f.Done()) {
			t.Fatal("attempt not abandoned at AttemptTimeout + grace")
		}
		_, err := await(t, f)
		je := jobError(t, err)
		if je.Reason != job.ErrDeadline || !errors.Is(err, scheduler.ErrAbandoned) {
			t.Errorf("err = %v, want Reason job.ErrDeadline and ErrAbandoned", err)
		}
		if got := f.Attempts(); got != 1 {
			t.Errorf("Attempts() = %d, want 1 (an abandoned job is not retried)", got)
		}
		if st := s.Stats(); st.Abandoned != 1 || st.Running != 0 {
			t.Errorf("Stats() Abandoned %d, Running %d; want 1, 0", st.Abandoned, st.Running)
		}

		g := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 7, nil })
		if v, err := await(t, g); v != 7 || err != nil {
			t.Errorf("job after the abandonment: Wait() = %d, %v; want 7, nil", v, err)
		}
		b.open()
		s.Close()
		checkEnded(t, s)
	})
}

// TestAttemptTimeoutOverrunWithWaitingKeyedJob: the overrun attempt holds
// the slot of a key another job waits for, and every worker is busy: the
// abandonment releases the key (which queues the waiting job and starts a
// worker for it) and replaces the abandoned worker, and both jobs end.
func TestAttemptTimeoutOverrunWithWaitingKeyedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2),
			scheduler.WithKeyLimit(1), scheduler.WithGrace(time.Second))
		defer s.Close()
		hung := newBlocker()
		hung.ignoreCtx = true
		defer hung.open()
		f := scheduler.Submit(s, context.Background(), hung.op, job.AttemptTimeout(time.Second), job.Key("a"))
		recv(t, hung.started, "hung job started")
		g := s.Go(context.Background(), func(context.Context) error { return nil }, job.Key("a"))
		synctest.Wait() // g waits for key a's slot
		busy := newBlocker()
		defer busy.open()
		h := scheduler.Submit(s, context.Background(), busy.op, job.Key("b")) // the other worker
		recv(t, busy.started, "busy job started")
		time.Sleep(2 * time.Second) // AttemptTimeout + grace: f is abandoned
		if _, err := await(t, f); !errors.Is(err, scheduler.ErrAbandoned) {
			t.Errorf("hung job: err = %v, want ErrAbandoned", err)
		}
		if _, err := await(t, g); err != nil {
			t.Errorf("waiting job: %v", err)
		}
		busy.open()
		await(t, h)
		hung.open()
		s.Close()
		checkEnded(t, s)
	})
}

// TestAttemptTimeoutOverrunCountsAsGaveUp: an attempt abandoned for
// overrunning its AttemptTimeout ends the job with job.ErrDeadline, a
// policy end: Stats documents GaveUp as "ended by the policy: exhausted,
// deadline, ..." and Canceled as "ended by their context, Future.Cancel,
// Shutdown or Close".
func TestAttemptTimeoutOverrunCountsAsGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithGrace(time.Second))
		defer s.Close()
		b := newBlocker()
		b.ignoreCtx = true
		defer b.open()
		f := scheduler.Submit(s, context.Background(), b.op, job.AttemptTimeout(time.Second))
		recv(t, b.started, "job started")
		await(t, f) // abandoned after AttemptTimeout + grace
		if st := s.Stats(); st.GaveUp != 1 || st.Canceled != 0 {
			t.Errorf("Stats() GaveUp %d, Canceled %d; want 1, 0 (Reason is job.ErrDeadline)", st.GaveUp, st.Canceled)
		}
	})
}

// TestPanicRecovered: a panicking operation ends its job with a permanent
// *job.PanicError, and the worker goes on serving.
func TestPanicRecovered(t *testing.T) {
	for _, value := range []any{"kaboom", errBoom} {
		t.Run(fmt.Sprint(value), func(t *testing.T) {
			s := scheduler.New(scheduler.WithWorkers(1))
			defer s.Close()
			f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { panic(value) })
			_, err := await(t, f)
			var pe *job.PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *job.PanicError", err)
			}
			if pe.Value != value || len(pe.Stack) == 0 {
				t.Errorf("PanicError{Value: %v, len(Stack): %d}, want Value %v and a stack", pe.Value, len(pe.Stack), value)
			}
			if !errors.Is(err, job.ErrPermanent) {
				t.Errorf("err = %v, want job.ErrPermanent", err)
			}
			if _, isErr := value.(error); isErr && !errors.Is(err, errBoom) {
				t.Errorf("err = %v, want it to wrap the panic's error %v", err, errBoom)
			}
			if got := f.Attempts(); got != 1 {
				t.Errorf("Attempts() = %d, want 1", got)
			}
			g := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 7, nil })
			if v, err := await(t, g); v != 7 || err != nil {
				t.Errorf("next job: Wait() = %d, %v; want 7, nil", v, err)
			}
			s.Close()
			if st := checkEnded(t, s); st.GaveUp != 1 || st.Succeeded != 1 {
				t.Errorf("Stats() GaveUp %d, Succeeded %d; want 1, 1", st.GaveUp, st.Succeeded)
			}
		})
	}
}

// TestOptionPanics: every With* option panics on bad input, with a message
// prefixed "scheduler: ".
func TestOptionPanics(t *testing.T) {
	cases := []struct {
		name string
		f    func()
	}{
		{"WithWorkers(0)", func() { scheduler.WithWorkers(0) }},
		{"WithWorkers(-1)", func() { scheduler.WithWorkers(-1) }},
		{"WithQueueSize(0)", func() { scheduler.WithQueueSize(0) }},
		{"WithQueueSize(-1)", func() { scheduler.WithQueueSize(-1) }},
		{"WithClock(nil)", func() { scheduler.WithClock(nil) }},
		{"WithKeyLimit(-1)", func() { scheduler.WithKeyLimit(-1) }},
		{"WithGrace(-1ns)", func() { scheduler.WithGrace(-1) }},
		{"WithDefaults(job.Key)", func() { scheduler.WithDefaults(job.Key("a")) }},
		{"WithDefaults(job.Clock)", func() { scheduler.WithDefaults(job.Clock(clock.NewMock())) }},
		{"WithDefaults(job.Rand)", func() { scheduler.WithDefaults(job.Rand(nil)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { mustPanic(t, "scheduler: ", c.f) })
	}
}

// TestOptionsValid: the edge values that are allowed do not panic.
func TestOptionsValid(t *testing.T) {
	s := scheduler.New(
		nil, // ignored
		scheduler.WithWorkers(1),
		scheduler.WithQueueSize(1),
		scheduler.WithKeyLimit(0),
		scheduler.WithGrace(0),
		scheduler.WithLogger(nil),
		scheduler.WithRedact(nil),
		scheduler.WithRand(0),
		scheduler.WithDefaults(),
		scheduler.WithRetryBudget(scheduler.Budget{}),
		scheduler.WithRetryBudget(scheduler.Budget{Ratio: 1000, MinPerSecond: 0, Window: time.Nanosecond}),
	)
	defer s.Close()
	if v, err := await(t, scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil })); v != 1 || err != nil {
		t.Errorf("Wait() = %d, %v; want 1, nil", v, err)
	}
}

// TestWithDefaults: the scheduler's defaults apply to every job, under the
// job's own options whatever form they take.
func TestWithDefaults(t *testing.T) {
	s := scheduler.New(scheduler.WithDefaults(job.MaxAttempts(2), job.Wait(wait.Constant(0))))
	defer s.Close()
	fail := func(context.Context) error { return errBoom }
	cases := []struct {
		name string
		opts []job.Option
		want int
	}{
		{"no options", nil, 2},
		{"a Policy that does not set MaxAttempts", []job.Option{job.NewPolicy(job.MaxElapsed(time.Hour))}, 2},
		{"a Policy and a Key", []job.Option{job.NewPolicy(job.MaxElapsed(time.Hour)), job.Key("k")}, 2},
		{"own MaxAttempts(3)", []job.Option{job.MaxAttempts(3)}, 3},
		{"a Policy with MaxAttempts(3)", []job.Option{job.NewPolicy(job.MaxAttempts(3))}, 3},
		{"two Policies, the later wins", []job.Option{job.NewPolicy(job.MaxAttempts(4)), job.NewPolicy(job.MaxAttempts(3))}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := s.Go(context.Background(), fail, c.opts...)
			_, err := await(t, f)
			if je := jobError(t, err); je.Reason != job.ErrExhausted || je.Attempts != c.want {
				t.Errorf("err = %v, want job.ErrExhausted after %d attempts", err, c.want)
			}
		})
	}
}

// TestWithRand: with WithRand, a lone job's jittered waits are reproducible.
func TestWithRand(t *testing.T) {
	waits := func(seed uint64) []time.Duration {
		var got []time.Duration
		synctest.Test(t, func(t *testing.T) {
			s := scheduler.New(scheduler.WithRand(seed))
			defer s.Close()
			retried := make(chan time.Duration, 8)
			f := s.Go(context.Background(), func(context.Context) error { return errBoom },
				job.MaxAttempts(4), job.OnRetry(func(e job.Event) { retried <- e.Wait }))
			await(t, f)
			close(retried)
			for w := range retried {
				got = append(got, w)
			}
			if len(got) != 3 {
				t.Errorf("OnRetry ran %d times, want 3", len(got))
			}
		})
		return got
	}
	a, b, c := waits(42), waits(42), waits(43)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 waits: %v, then %v; want the same", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same waits %v", a)
	}
	for i, d := range a {
		if hi := 100 * time.Millisecond << i; d < 0 || d > hi {
			t.Errorf("wait %d = %v, want in [0, %v] (Full jitter of the default Exponential)", i+1, d, hi)
		}
	}
}
