package scheduler_test

// The helpers shared by the test files of the package. Most tests run in a
// synctest bubble, where the helpers' 10 s bounds are fake time: they pass
// only when the bubble is deadlocked, so a test that would hang fails at
// once instead. Outside a bubble (stress tests, the tests of the clock mock
// seam) they are real time.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// errBoom is the ordinary, retryable failure of the tests' operations.
var errBoom = errors.New("boom")

// constant is a policy that waits exactly d between attempts.
func constant(d time.Duration, opts ...job.Option) *job.Policy {
	return job.NewPolicy(append([]job.Option{job.Wait(wait.Constant(d)), job.Jitter(jitter.None)}, opts...)...)
}

// failThen returns an operation that fails with errBoom n times and then
// returns v, and its number of calls.
func failThen(n int32, v int) (func(context.Context) (int, error), *atomic.Int32) {
	calls := new(atomic.Int32)
	return func(context.Context) (int, error) {
		if calls.Add(1) <= n {
			return 0, errBoom
		}
		return v, nil
	}, calls
}

// await waits for f to resolve and returns its result, failing the test
// when f has not resolved after 10 s.
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

// recv receives from ch, failing the test after 10 s.
func recv[E any](t testing.TB, ch <-chan E, what string) E {
	t.Helper()
	v, _ := recvOK(t, ch, what)
	return v
}

// recvOK receives from ch and reports whether ch was still open, failing
// the test after 10 s.
func recvOK[E any](t testing.TB, ch <-chan E, what string) (E, bool) {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	select {
	case v, ok := <-ch:
		return v, ok
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

// settle waits until s is settled (WaitSettled: nothing queued or running,
// the heap's timer armed), the handshake before a mock clock is moved,
// failing the test after 10 s.
func settle(t testing.TB, s *scheduler.Scheduler) {
	t.Helper()
	settleWithin(t, s, 10*time.Second)
}

// settleWithin is settle with a bound of d.
func settleWithin(t testing.TB, s *scheduler.Scheduler, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.WaitSettled(ctx); err != nil {
		t.Fatalf("WaitSettled: %v (Stats() %+v)", err, s.Stats())
	}
}

// waitStats blocks until cond holds for s.Stats(), the handshake for a test
// that must see a job reach a state (no polling, no sleep).
func waitStats(t testing.TB, s *scheduler.Scheduler, what string, cond func(scheduler.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitStats(ctx, cond); err != nil {
		t.Fatalf("waiting until %s: %v (Stats() %+v)", what, err, s.Stats())
	}
}

// statsAddUp checks that every submitted job is counted once:
// Submitted = Succeeded + GaveUp + Canceled + in flight.
func statsAddUp(t testing.TB, st scheduler.Stats) {
	t.Helper()
	inFlight := uint64(st.Queued + st.Running + st.Parked + st.Waiting)
	if sum := st.Succeeded + st.GaveUp + st.Canceled + inFlight; st.Submitted != sum {
		t.Errorf("Stats() do not add up: Submitted %d != Succeeded %d + GaveUp %d + Canceled %d + in flight %d (%+v)",
			st.Submitted, st.Succeeded, st.GaveUp, st.Canceled, inFlight, st)
	}
}

// checkEnded checks that nothing is in flight in s (closed, or with every
// job ended) and that its Stats add up; it returns the Stats.
func checkEnded(t testing.TB, s *scheduler.Scheduler) scheduler.Stats {
	t.Helper()
	st := s.Stats()
	if st.Queued != 0 || st.Running != 0 || st.Parked != 0 || st.Waiting != 0 {
		t.Errorf("Stats() in flight: Queued %d, Running %d, Parked %d, Waiting %d; want all 0",
			st.Queued, st.Running, st.Parked, st.Waiting)
	}
	statsAddUp(t, st)
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

// mustPanic checks that f panics with a message starting with prefix.
func mustPanic(t testing.TB, prefix string, f func()) {
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

// closeWithin closes s, fails the test if Close takes longer than limit,
// and returns how long it took.
func closeWithin(t testing.TB, s *scheduler.Scheduler, limit time.Duration) time.Duration {
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

// serves checks that s still runs n new jobs to success.
func serves(t testing.TB, s *scheduler.Scheduler, n int) {
	t.Helper()
	fs := make([]*job.Future[int], n)
	for i := range fs {
		fs[i] = scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return i, nil })
	}
	for i, f := range fs {
		if v, err := await(t, f); v != i || err != nil {
			t.Errorf("job %d: Wait() = %d, %v; want %d, nil", i, v, err, i)
		}
	}
}

// noLeak fails the test if goroutines other than those in ignore (taken
// with goleak.IgnoreCurrent at the start of the test) are still running,
// and returns 1 if so. goleak retries for a while, so goroutines on their
// way out are not reported. A test in a synctest bubble needs no such
// check: synctest.Test fails when a goroutine of the bubble is left
// blocked.
func noLeak(t testing.TB, ignore goleak.Option) int {
	t.Helper()
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines leaked: %v", err)
		return 1
	}
	return 0
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
