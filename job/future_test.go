package job_test

// Futures come from package scheduler; these tests get theirs from it, the
// way users do, and check the job.Future API: Done, Wait, Cancel, Attempts.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// newScheduler returns a scheduler shut down when the test ends.
func newScheduler(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	s := scheduler.New(scheduler.WithWorkers(2))
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
	})
	return s
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// gated returns an operation that waits for release before each attempt
// returns, failing the first failures times.
func gated(failures int, release <-chan struct{}) func(context.Context) (int, error) {
	calls := 0 // attempts of one job never overlap
	return func(ctx context.Context) (int, error) {
		calls++
		select {
		case <-release:
		case <-ctx.Done():
			return 0, fmt.Errorf("attempt %d: %w", calls, ctx.Err())
		}
		if calls <= failures {
			return 0, errTransient
		}
		return 42, nil
	}
}

func TestFutureResolvesForEveryWaiter(t *testing.T) {
	s := newScheduler(t)
	release := make(chan struct{})
	f := scheduler.Submit(s, context.Background(), gated(1, release), job.Wait(wait.Constant(0)))
	if isClosed(f.Done()) {
		t.Fatal("Done() closed before the job ended")
	}
	const waiters = 8
	var wg sync.WaitGroup
	vals := make([]int, waiters)
	errs := make([]error, waiters)
	for i := range waiters {
		wg.Go(func() { vals[i], errs[i] = f.Wait(context.Background()) })
	}
	close(release)
	wg.Wait()
	var noBound context.Context // a nil ctx waits without bound
	v, err := f.Wait(noBound)
	vals, errs = append(vals, v), append(errs, err)
	for i := range vals {
		if vals[i] != 42 || errs[i] != nil {
			t.Errorf("waiter %d: Wait() = %d, %v, want 42, nil", i, vals[i], errs[i])
		}
	}
	if !isClosed(f.Done()) {
		t.Error("Done() not closed after the job ended")
	}
	if n := f.Attempts(); n != 2 {
		t.Errorf("Attempts() = %d, want 2", n)
	}
}

// TestFutureWaitCtxEndsFirst: Wait's ctx bounds only the waiting; the job
// goes on.
func TestFutureWaitCtxEndsFirst(t *testing.T) {
	s := newScheduler(t)
	release := make(chan struct{})
	f := scheduler.Submit(s, context.Background(), gated(0, release))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := f.Wait(ctx); v != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(canceled ctx) = %d, %v, want 0, context.Canceled", v, err)
	}
	if isClosed(f.Done()) {
		t.Error("Done() closed after a waiter gave up, want the job to go on")
	}
	close(release)
	if v, err := f.Wait(context.Background()); v != 42 || err != nil {
		t.Errorf("Wait() = %d, %v, want 42, nil", v, err)
	}
}

// TestFutureCancel: a canceled job whose attempt is running resolves when the
// attempt returns, with Reason context.Canceled and the attempt's error as
// Last; Cancel after the end changes nothing.
func TestFutureCancel(t *testing.T) {
	s := newScheduler(t)
	started := make(chan struct{})
	f := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, fmt.Errorf("fetch: %w", ctx.Err())
	})
	<-started
	f.Cancel()
	v, err := f.Wait(context.Background())
	if v != 0 {
		t.Errorf("Wait() = %d, want 0", v)
	}
	e := jobError(t, err)
	if e.Reason != context.Canceled || e.Attempts != 1 || e.Last == nil {
		t.Errorf("Wait() error = %v (reason %v, %d attempts, last %v), want reason context.Canceled, 1 attempt, the attempt's error", err, e.Reason, e.Attempts, e.Last)
	}
	f.Cancel()
	if _, again := f.Wait(context.Background()); again != err {
		t.Errorf("Wait() after a second Cancel = %v, want %v", again, err)
	}
}
