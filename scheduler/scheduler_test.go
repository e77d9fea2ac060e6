package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

var errBoom = errors.New("boom")

func settle(t *testing.T, s *scheduler.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitSettled(ctx); err != nil {
		t.Fatalf("WaitSettled: %v (stats %+v)", err, s.Stats())
	}
}

func TestSubmitSuccess(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(4))
	defer s.Close()
	f := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) { return 42, nil })
	v, err := f.Wait(context.Background())
	if v != 42 || err != nil {
		t.Fatalf("Wait() = %d, %v; want 42, nil", v, err)
	}
	if n := f.Attempts(); n != 1 {
		t.Errorf("Attempts() = %d, want 1", n)
	}
}

func TestRetryWithMockClock(t *testing.T) {
	mock := clock.NewMock()
	s := scheduler.New(scheduler.WithClock(mock), scheduler.WithWorkers(2))
	defer s.Close()
	var calls atomic.Int32
	pol := job.NewPolicy(job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None))
	f := scheduler.Submit(s, context.Background(), func(ctx context.Context) (string, error) {
		if calls.Add(1) < 3 {
			return "", errBoom
		}
		return "ok", nil
	}, pol)
	for i := 0; i < 2; i++ {
		settle(t, s)
		if st := s.Stats(); st.Parked != 1 {
			t.Fatalf("round %d: Parked = %d, want 1", i, st.Parked)
		}
		mock.Add(999 * time.Millisecond)
		settle(t, s)
		if got := calls.Load(); got != int32(i+1) {
			t.Fatalf("round %d: retry ran early: calls = %d", i, got)
		}
		mock.Add(time.Millisecond)
	}
	v, err := f.Wait(context.Background())
	if v != "ok" || err != nil {
		t.Fatalf("Wait() = %q, %v", v, err)
	}
	if st := s.Stats(); st.Retried != 2 || st.Succeeded != 1 || st.Submitted != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestParkedJobDoesNotHoldWorker(t *testing.T) {
	mock := clock.NewMock()
	s := scheduler.New(scheduler.WithClock(mock), scheduler.WithWorkers(1))
	defer s.Close()
	f1 := s.Go(context.Background(), func(ctx context.Context) error { return errBoom },
		job.Wait(wait.Constant(time.Hour)), job.Jitter(jitter.None))
	settle(t, s)
	f2 := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) { return 7, nil })
	if v, err := f2.Wait(context.Background()); v != 7 || err != nil {
		t.Fatalf("second job: %d, %v", v, err)
	}
	f1.Cancel()
	_, err := f1.Wait(context.Background())
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
		t.Fatalf("canceled parked job: err = %v, want Canceled wrapping boom", err)
	}
}

// Helpers shared by the test files of the package.

// constant is a policy that waits exactly d between attempts.
func constant(d time.Duration, opts ...job.Option) *job.Policy {
	return job.NewPolicy(append([]job.Option{job.Wait(wait.Constant(d)), job.Jitter(jitter.None)}, opts...)...)
}

// await waits for f to resolve and returns its result. It fails the test
// when f has not resolved after 10 s: of real time, or of a synctest
// bubble's fake time (which only passes when the bubble is deadlocked).
func await[T any](t testing.TB, f *job.Future[T]) (T, error) {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	select {
	case <-f.Done():
	case <-tm.C:
		t.Fatalf("future not resolved after 10s (Attempts() = %d)", f.Attempts())
	}
	return f.Wait(context.Background())
}

// recv receives from ch, failing the test after 10 s (see await).
func recv[E any](t testing.TB, ch <-chan E, what string) E {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	select {
	case v := <-ch:
		return v
	case <-tm.C:
		t.Fatalf("%s: nothing received after 10s", what)
	}
	panic("unreachable")
}

// isDone reports whether ch is closed (or has a value) now.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// checkEnded checks that nothing is in flight and that every submitted job
// was counted once: Submitted == Succeeded + GaveUp + Canceled.
func checkEnded(t testing.TB, s *scheduler.Scheduler) scheduler.Stats {
	t.Helper()
	st := s.Stats()
	if st.Queued != 0 || st.Running != 0 || st.Parked != 0 || st.Waiting != 0 {
		t.Errorf("Stats() in flight: Queued %d, Running %d, Parked %d, Waiting %d; want all 0",
			st.Queued, st.Running, st.Parked, st.Waiting)
	}
	if sum := st.Succeeded + st.GaveUp + st.Canceled; st.Submitted != sum {
		t.Errorf("Stats().Submitted = %d, want Succeeded+GaveUp+Canceled = %d (%+v)", st.Submitted, sum, st)
	}
	return st
}

// jobError returns err as a *job.Error, failing the test if it is not one.
func jobError(t testing.TB, err error) *job.Error {
	t.Helper()
	var je *job.Error
	if !errors.As(err, &je) {
		t.Fatalf("err = %v (%T), want a *job.Error", err, err)
	}
	return je
}

// blocker is an operation under the test's control: each call sends its
// attempt number on started, then blocks until release is closed (and
// returns 1, nil) or, unless ignoreCtx, until its context ends (and returns
// errBoom).
type blocker struct {
	started   chan int
	release   chan struct{}
	ignoreCtx bool
	once      sync.Once
}

func newBlocker() *blocker {
	return &blocker{started: make(chan int, 64), release: make(chan struct{})}
}

func (b *blocker) op(ctx context.Context) (int, error) {
	b.started <- job.AttemptFrom(ctx)
	if b.ignoreCtx {
		<-b.release
		return 1, nil
	}
	select {
	case <-b.release:
		return 1, nil
	case <-ctx.Done():
		return 0, errBoom
	}
}

// open releases every call of b, once.
func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

// mustPanic checks that f panics with a message starting with prefix.
func mustPanic(t *testing.T, prefix string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one starting with %q", prefix)
		}
		if msg := fmt.Sprint(r); !strings.HasPrefix(msg, prefix) {
			t.Errorf("panic %q, want it to start with %q", msg, prefix)
		}
	}()
	f()
}

// waitStats blocks until cond holds for s.Stats(), the handshake for a test
// that must see a job reach a state (no polling, no sleep).
func waitStats(t *testing.T, s *scheduler.Scheduler, what string, cond func(scheduler.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitStats(ctx, cond); err != nil {
		t.Fatalf("waiting until %s: %v (stats %+v)", what, err, s.Stats())
	}
}
