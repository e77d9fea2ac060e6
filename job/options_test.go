package job_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// TestOptionsApplyLeftToRight: later options win; a Policy used as an option
// sets exactly the fields that were set when it was built, and only those.
// Each case counts the attempts of an operation that always fails.
func TestOptionsApplyLeftToRight(t *testing.T) {
	two := job.NewPolicy(job.MaxAttempts(2))
	noWait := job.NewPolicy(job.Wait(wait.Constant(0)))
	tests := []struct {
		name string
		opts []job.Option
		want int
	}{
		{"later option wins", []job.Option{job.MaxAttempts(2), job.MaxAttempts(4)}, 4},
		{"later option wins, reversed", []job.Option{job.MaxAttempts(4), job.MaxAttempts(2)}, 2},
		{"Policy alone", []job.Option{two}, 2},
		{"option after Policy", []job.Option{two, job.MaxAttempts(5)}, 5},
		{"Policy after option", []job.Option{job.MaxAttempts(5), two}, 2},
		{"Policy keeps fields it did not set", []job.Option{job.MaxAttempts(3), noWait}, 3},
		{"second Policy keeps fields it did not set", []job.Option{two, noWait}, 2},
		{"second Policy wins on a field both set", []job.Option{two, job.NewPolicy(job.MaxAttempts(3))}, 3},
		{"Policy of a Policy", []job.Option{job.NewPolicy(two, job.MaxAttempts(4))}, 4},
		{"Policy keeps a strategy it did not set", []job.Option{job.Wait(wait.Schedule(0)), job.NewPolicy(job.MaxAttempts(5))}, 2},
		{"per-job options beside a Policy", []job.Option{job.Key("k"), two, job.Rand(rand.New(rand.NewPCG(1, 2)))}, 2},
		{"nil options are ignored", []job.Option{nil, (*job.Policy)(nil), job.MaxAttempts(2), nil}, 2},
		{"nil Policy alone is ignored", []job.Option{(*job.Policy)(nil)}, 10},
		{"NewPolicy ignores nil options", []job.Option{job.NewPolicy(nil, job.MaxAttempts(2))}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, calls := failing(100, errTransient, 0)
				_, err := job.Do(t.Context(), op, tt.opts...)
				if !errors.Is(err, job.ErrExhausted) {
					t.Errorf("Do() error = %v, want ErrExhausted", err)
				}
				if *calls != tt.want {
					t.Errorf("Do() attempts = %d, want %d", *calls, tt.want)
				}
			})
		})
	}
}

// TestNilRemovesOption: a nil hook, predicate or RetryIf undoes an earlier
// option (or a Policy's).
func TestNilRemovesOption(t *testing.T) {
	t.Run("OnRetry", func(t *testing.T) {
		called := 0
		op, _ := failing(2, errTransient, 1)
		_, err := job.Do(context.Background(), op, job.Wait(wait.Constant(0)),
			job.NewPolicy(job.OnRetry(func(job.Event) { called++ })), job.OnRetry(nil))
		if err != nil || called != 0 {
			t.Errorf("Do() = %v with OnRetry called %d times, want nil and 0", err, called)
		}
	})
	t.Run("RetryIf", func(t *testing.T) {
		op, calls := failing(2, errTransient, 1)
		_, err := job.Do(context.Background(), op, job.Wait(wait.Constant(0)),
			job.RetryIf(func(error) bool { return false }), job.RetryIf(nil))
		if err != nil || *calls != 3 {
			t.Errorf("Do() = %v after %d attempts, want nil after 3", err, *calls)
		}
	})
	t.Run("RetryOnResult", func(t *testing.T) {
		calls := 0
		v, err := job.Do(context.Background(), func(context.Context) (int, error) {
			calls++
			return 7, nil
		}, job.RetryOnResult(func(int) bool { return true }), job.RetryOnResult[int](nil))
		if err != nil || v != 7 || calls != 1 {
			t.Errorf("Do() = %d, %v after %d attempts, want 7, nil after 1", v, err, calls)
		}
	})
}

func TestNewPolicyPanicsOnPerJobData(t *testing.T) {
	tests := []struct {
		name string
		opt  job.Option
	}{
		{"Key", job.Key("k")},
		{"Clock", job.Clock(clock.NewMock())},
		{"Rand", job.Rand(rand.New(rand.NewPCG(1, 2)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, panicked := panicMessage(func() { job.NewPolicy(job.MaxAttempts(2), tt.opt) })
			if !panicked {
				t.Fatalf("NewPolicy(..., %s) did not panic", tt.name)
			}
			if !strings.HasPrefix(msg, "job: ") {
				t.Errorf("panic message %q, want prefix %q", msg, "job: ")
			}
		})
	}
}

func TestOptionConstructorsPanic(t *testing.T) {
	tests := []struct {
		name string
		call func() job.Option
	}{
		{"MaxAttempts(-1)", func() job.Option { return job.MaxAttempts(-1) }},
		{"MaxElapsed(-1ns)", func() job.Option { return job.MaxElapsed(-1) }},
		{"AttemptTimeout(-1s)", func() job.Option { return job.AttemptTimeout(-time.Second) }},
		{"MaxWait(-1ns)", func() job.Option { return job.MaxWait(-1) }},
		{"Wait(nil)", func() job.Option { return job.Wait(nil) }},
		{"Jitter(nil)", func() job.Option { return job.Jitter(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, panicked := panicMessage(func() { tt.call() })
			if !panicked {
				t.Fatalf("%s did not panic", tt.name)
			}
			if !strings.HasPrefix(msg, "job: ") {
				t.Errorf("%s panic message %q, want prefix %q", tt.name, msg, "job: ")
			}
		})
	}
}

func TestOptionConstructorsAcceptZero(t *testing.T) {
	tests := []struct {
		name string
		call func() job.Option
	}{
		{"MaxAttempts(0)", func() job.Option { return job.MaxAttempts(0) }},
		{"MaxElapsed(0)", func() job.Option { return job.MaxElapsed(0) }},
		{"AttemptTimeout(0)", func() job.Option { return job.AttemptTimeout(0) }},
		{"MaxWait(0)", func() job.Option { return job.MaxWait(0) }},
		{"Key(\"\")", func() job.Option { return job.Key("") }},
		{"Clock(nil)", func() job.Option { return job.Clock(nil) }},
		{"Rand(nil)", func() job.Option { return job.Rand(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg, panicked := panicMessage(func() { tt.call() }); panicked {
				t.Fatalf("%s panicked: %s", tt.name, msg)
			}
			op, calls := failing(1, errTransient, 1)
			if _, err := job.Do(context.Background(), op, job.Wait(wait.Constant(0)), tt.call()); err != nil || *calls != 2 {
				t.Errorf("Do(..., %s) = %v after %d attempts, want nil after 2", tt.name, err, *calls)
			}
		})
	}
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		name string
		p    *job.Policy
		want string
	}{
		{"defaults", job.NewPolicy(), "Policy{MaxAttempts: 10, MaxElapsed: 0s, AttemptTimeout: 0s, MaxWait: 1h0m0s}"},
		{
			"set",
			job.NewPolicy(job.MaxAttempts(3), job.MaxElapsed(time.Minute), job.AttemptTimeout(5*time.Second), job.MaxWait(10*time.Second)),
			"Policy{MaxAttempts: 3, MaxElapsed: 1m0s, AttemptTimeout: 5s, MaxWait: 10s}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPolicySharedAcrossGoroutines: one Policy, many concurrent jobs (run
// with -race).
func TestPolicySharedAcrossGoroutines(t *testing.T) {
	var retries, successes atomic.Int64
	p := job.NewPolicy(job.Wait(wait.Constant(0)), job.Jitter(jitter.Full),
		job.OnRetry(func(job.Event) { retries.Add(1) }),
		job.OnSuccess(func(job.Event) { successes.Add(1) }))
	const jobs = 16
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			op, _ := failing(2, errTransient, 1)
			if _, err := job.Do(context.Background(), op, p); err != nil {
				t.Errorf("Do() error = %v, want nil", err)
			}
		})
	}
	wg.Wait()
	if got := retries.Load(); got != 2*jobs {
		t.Errorf("OnRetry ran %d times, want %d", got, 2*jobs)
	}
	if got := successes.Load(); got != jobs {
		t.Errorf("OnSuccess ran %d times, want %d", got, jobs)
	}
}

// TestRandMakesDelaysReproducible: with a seeded source, a job's waits are
// the same from run to run, and within the default Full jitter's bounds.
func TestRandMakesDelaysReproducible(t *testing.T) {
	waits := func(seed uint64) []time.Duration {
		var got []time.Duration
		synctest.Test(t, func(t *testing.T) {
			op, _ := failing(100, errTransient, 0)
			_, _ = job.Do(t.Context(), op, job.MaxAttempts(6),
				job.Rand(rand.New(rand.NewPCG(seed, 2))),
				job.OnRetry(func(e job.Event) { got = append(got, e.Wait) }))
		})
		return got
	}
	a, b, c := waits(1), waits(1), waits(3)
	if !slices.Equal(a, b) {
		t.Errorf("waits with seed 1 = %v, then %v, want the same", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("waits with seeds 1 and 3 are both %v, want different", a)
	}
	base := 100 * time.Millisecond
	for i, w := range a {
		if w < 0 || w > base<<i {
			t.Errorf("wait %d = %v, want in [0, %v]", i+1, w, base<<i)
		}
	}
}
