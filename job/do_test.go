package job_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

func TestDoPanicsOnNil(t *testing.T) {
	var nilCtx context.Context
	op := func(context.Context) (int, error) { return 0, nil }
	tests := []struct {
		name string
		call func()
	}{
		{"nil context", func() { _, _ = job.Do(nilCtx, op) }},
		{"nil operation", func() { _, _ = job.Do[int](context.Background(), nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, panicked := panicMessage(tt.call)
			if !panicked {
				t.Fatal("Do() did not panic")
			}
			if !strings.HasPrefix(msg, "job: ") {
				t.Errorf("panic message %q, want prefix %q", msg, "job: ")
			}
		})
	}
}

func TestDoValue(t *testing.T) {
	tests := []struct {
		name      string
		attempt   func(n int) (string, error)
		wantValue string
		wantErr   error
	}{
		{
			name:      "success",
			attempt:   func(int) (string, error) { return "ok", nil },
			wantValue: "ok",
		},
		{
			name: "success after failures",
			attempt: func(n int) (string, error) {
				if n < 3 {
					return "partial", errTransient
				}
				return "ok", nil
			},
			wantValue: "ok",
		},
		{
			name:      "give up: zero value, not the failed attempt's",
			attempt:   func(int) (string, error) { return "partial", errTransient },
			wantValue: "",
			wantErr:   job.ErrExhausted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			v, err := job.Do(context.Background(), func(context.Context) (string, error) {
				calls++
				return tt.attempt(calls)
			}, job.MaxAttempts(3), job.Wait(wait.Constant(0)))
			if v != tt.wantValue {
				t.Errorf("Do() = %q, want %q", v, tt.wantValue)
			}
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Errorf("Do() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// timerClock is a clock mock that reports each timer made with Timer once the
// timer is registered: a handshake for advancing the mock. Do re-arms its
// timer with Reset, which timerClock does not see, so it serves for one wait.
type timerClock struct {
	*clock.Mock
	timers chan time.Duration
}

func (c *timerClock) Timer(d time.Duration) *clock.Timer {
	t := c.Mock.Timer(d)
	c.timers <- d
	return t
}

// TestDoWaitsOnTheGivenClock is the test of the clock mock seam of Do
// (job.Clock), the way a user's own tests drive it: Do's wait is on the
// given mock, and passes only when the mock is advanced.
func TestDoWaitsOnTheGivenClock(t *testing.T) {
	clk := &timerClock{Mock: clock.NewMock(), timers: make(chan time.Duration, 1)}
	type result struct {
		v       string
		err     error
		elapsed time.Duration // OnSuccess's Event.Elapsed
	}
	done := make(chan result, 1)
	go func() {
		var elapsed time.Duration
		op, _ := failing(1, errTransient, "ok")
		v, err := job.Do(context.Background(), op,
			job.Clock(clk), job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None),
			job.OnSuccess(func(e job.Event) { elapsed = e.Elapsed }))
		done <- result{v, err, elapsed}
	}()
	if d := <-clk.timers; d != time.Second {
		t.Errorf("Do() waits %v, want 1s", d)
	}
	select {
	case r := <-done:
		t.Fatalf("Do() = %q, %v before the mock was advanced", r.v, r.err)
	default:
	}
	clk.Add(time.Second)
	r := <-done
	if r.err != nil || r.v != "ok" {
		t.Errorf("Do() = %q, %v, want %q, nil", r.v, r.err, "ok")
	}
	if r.elapsed != time.Second {
		t.Errorf("OnSuccess Event.Elapsed = %v, want 1s", r.elapsed)
	}
}

// TestScheduleRunsOutIsExhausted: a wait.Schedule that has run out ends the
// job with ErrExhausted, even with unlimited attempts.
func TestScheduleRunsOutIsExhausted(t *testing.T) {
	tests := []struct {
		name         string
		schedule     wait.Strategy
		wantAttempts int
	}{
		{"two retries", wait.Schedule(0, 0), 3},
		{"empty", wait.Schedule(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, calls := failing(100, errTransient, 0)
			_, err := job.Do(context.Background(), op, job.MaxAttempts(0), job.Wait(tt.schedule))
			if !errors.Is(err, job.ErrExhausted) || !errors.Is(err, errTransient) {
				t.Errorf("Do() error = %v, want ErrExhausted wrapping %v", err, errTransient)
			}
			if *calls != tt.wantAttempts {
				t.Errorf("Do() attempts = %d, want %d", *calls, tt.wantAttempts)
			}
		})
	}
}

type ctxKey struct{}

func TestAttemptFrom(t *testing.T) {
	tests := []struct {
		name   string
		opts   []job.Option
		derive func(context.Context) context.Context
	}{
		{"plain", nil, func(ctx context.Context) context.Context { return ctx }},
		{"with AttemptTimeout", []job.Option{job.AttemptTimeout(time.Minute)}, func(ctx context.Context) context.Context { return ctx }},
		{"with MaxElapsed", []job.Option{job.MaxElapsed(time.Minute)}, func(ctx context.Context) context.Context { return ctx }},
		{"derived context", nil, func(ctx context.Context) context.Context { return context.WithValue(ctx, ctxKey{}, "v") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			opts := append([]job.Option{job.Wait(wait.Constant(0))}, tt.opts...)
			_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
				got = append(got, job.AttemptFrom(tt.derive(ctx)))
				if len(got) < 3 {
					return 0, errTransient
				}
				return 1, nil
			}, opts...)
			if err != nil {
				t.Fatalf("Do() error = %v, want nil", err)
			}
			if want := []int{1, 2, 3}; !slices.Equal(got, want) {
				t.Errorf("AttemptFrom(ctx) = %v, want %v", got, want)
			}
		})
	}
	if n := job.AttemptFrom(context.Background()); n != 1 {
		t.Errorf("AttemptFrom(context.Background()) = %d, want 1", n)
	}
}

// TestNestedDoAttemptNumbers: a Do inside an operation counts its own
// attempts, and leaves the outer attempt's number alone.
func TestNestedDoAttemptNumbers(t *testing.T) {
	var inner [][]int // per outer attempt, the inner attempts' numbers
	var outerBefore, outerAfter []int
	_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
		outerBefore = append(outerBefore, job.AttemptFrom(ctx))
		var seen []int
		_, err := job.Do(ctx, func(ctx context.Context) (int, error) {
			seen = append(seen, job.AttemptFrom(ctx))
			if len(seen) < 2 {
				return 0, errTransient
			}
			return 1, nil
		}, job.Wait(wait.Constant(0)))
		inner = append(inner, seen)
		outerAfter = append(outerAfter, job.AttemptFrom(ctx))
		if err != nil {
			return 0, err
		}
		if len(outerBefore) < 2 {
			return 0, errTransient
		}
		return 1, nil
	}, job.Wait(wait.Constant(0)))
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	if want := []int{1, 2}; !slices.Equal(outerBefore, want) || !slices.Equal(outerAfter, want) {
		t.Errorf("outer AttemptFrom before/after the inner Do = %v/%v, want %v", outerBefore, outerAfter, want)
	}
	want := [][]int{{1, 2}, {1, 2}}
	if !slices.EqualFunc(inner, want, slices.Equal) {
		t.Errorf("inner AttemptFrom per outer attempt = %v, want %v", inner, want)
	}
}

// TestDoSuccessPathDoesNotAllocate: with one shared Policy (and per-job data
// beside it), a job that succeeds at once costs no allocation (the package
// doc: "Do's success path costs a call and no allocation"; BenchmarkDoSuccess
// measures the same).
func TestDoSuccessPathDoesNotAllocate(t *testing.T) {
	p := job.NewPolicy()
	ctx := context.Background()
	tests := []struct {
		name string
		opts []job.Option
	}{
		{"Policy", []job.Option{p}},
		{"Policy and Key", []job.Option{p, job.Key("k")}},
		{"no options", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(100, func() {
				benchSink, benchErr = job.Do(ctx, okOp, tt.opts...)
			})
			if allocs != 0 {
				t.Errorf("Do() allocates %v times per call, want 0", allocs)
			}
		})
	}
}
