package scheduler_test

import (
	"context"
	"errors"
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

// TestRetryWithMockClock is a test of the clock mock seam, the way a user's
// own tests drive a scheduler: WithClock(mock), WaitSettled as the
// handshake, mock.Add to move time. A retry runs when the mock reaches its
// due time, not a nanosecond before.
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
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1))
		defer s.Close()
		f1 := s.Go(context.Background(), func(ctx context.Context) error { return errBoom },
			job.Wait(wait.Constant(time.Hour)), job.Jitter(jitter.None))
		synctest.Wait()
		if st := s.Stats(); st.Parked != 1 {
			t.Fatalf("Stats().Parked = %d, want 1", st.Parked)
		}
		f2 := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) { return 7, nil })
		if v, err := await(t, f2); v != 7 || err != nil {
			t.Fatalf("second job: %d, %v", v, err)
		}
		f1.Cancel()
		_, err := await(t, f1)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
			t.Fatalf("canceled parked job: err = %v, want Canceled wrapping boom", err)
		}
	})
}
