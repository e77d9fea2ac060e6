package job_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
)

// A zero Env (no clock, no epoch) works: MaxElapsed gives the run a
// deadline on the real clock.
func TestRunZeroEnvDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r job.Run
		r.Start(context.Background(), job.NewPolicy(job.MaxElapsed(time.Minute)), "", &job.Env{})
		dl, ok := r.Deadline()
		if want := time.Now().Add(time.Minute); !ok || !dl.Equal(want) {
			t.Fatalf("Deadline() = %v, %v; want %v, true", dl, ok, want)
		}
		time.Sleep(time.Minute)
		if !r.Late() {
			t.Error("Late() = false at the deadline")
		}
	})
}

// Resume restores the last error: a resumed job that gives up before an
// attempt of its own reports it.
func TestRunResumeKeepsLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prevErr := errors.New("503 from the last delivery")
		var r job.Run
		start := time.Now().Add(-2 * time.Minute)
		r.Resume(job.NewPolicy(job.MaxElapsed(time.Minute)), "k", &job.Env{}, start, 3, time.Second, prevErr)
		if !r.Late() {
			t.Fatal("Late() = false two minutes into a one-minute budget")
		}
		var je *job.Error
		if err := r.Fail(job.ErrDeadline); !errors.As(err, &je) || je.Last != prevErr || je.Attempts != 3 {
			t.Errorf("Fail = %v; want Last %v after 3 attempts", err, prevErr)
		}
		if r.Prev() != time.Second || r.Key() != "k" {
			t.Errorf("Prev %v, Key %q; want 1s, k", r.Prev(), r.Key())
		}
	})
}

// Throttled marks a throttle without changing the error; a Retry-After hint
// is a throttle too; a plain error is not.
func TestThrottled(t *testing.T) {
	base := errors.New("429")
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"marked", job.Throttled(base), true},
		{"marked, wrapped", fmt.Errorf("call: %w", job.Throttled(base)), true},
		{"hint", job.RetryAfter(base, time.Second), true},
		{"plain", base, false},
		{"permanent", job.Permanent(base), false},
	}
	for _, tc := range cases {
		if o := job.OutcomeOf(tc.err); o.Throttled != tc.want {
			t.Errorf("%s: Throttled = %v, want %v", tc.name, o.Throttled, tc.want)
		}
	}
	if !errors.Is(job.Throttled(base), base) || job.Throttled(base).Error() != "429" {
		t.Error("Throttled changed the error")
	}
	if job.Throttled(nil) != nil {
		t.Error("Throttled(nil) != nil")
	}
}
