package job_test

// Bad input to package job (and to the strategies and jitters it is given):
// nil operation and ctx, negative and absurd durations, NaN and infinite
// factors, absurd Retry-After values, empty and huge keys. Each gets a clear
// error or a "package: ..." panic at the call site, never a hang or a
// silent drop.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// Misuse panics at the call site with a message prefixed by the package
// that panicked.
func TestBadInputPanics(t *testing.T) {
	var (
		nilCtx context.Context
		nilOp  func(context.Context) (int, error)
		nilFn  func(context.Context, string) (int, error)
		op     = func(context.Context) (int, error) { return 1, nil }
	)
	tests := []struct {
		name   string
		prefix string
		call   func()
	}{
		{"Do(nil ctx)", "job: ", func() { _, _ = job.Do(nilCtx, op) }},
		{"Do(nil op)", "job: ", func() { _, _ = job.Do(context.Background(), nilOp) }},
		{"Wrap(nil)", "job: ", func() { job.Wrap(nilFn) }},
		{"wrapped(nil ctx)", "job: ", func() {
			f := job.Wrap(func(context.Context, string) (int, error) { return 1, nil })
			_, _ = f(nilCtx, "x")
		}},
		{"Do(RetryOnResult of another type)", "job: ", func() {
			_, _ = job.Do(context.Background(), op, job.RetryOnResult(func(string) bool { return true }))
		}},
		{"Wrap(RetryOnResult of another type)", "job: ", func() {
			f := job.Wrap(func(context.Context, string) (int, error) { return 1, nil }, job.RetryOnResult(func(float64) bool { return true }))
			_, _ = f(context.Background(), "x")
		}},
		{"MaxAttempts(-1)", "job: ", func() { job.MaxAttempts(-1) }},
		{"MaxAttempts(MinInt)", "job: ", func() { job.MaxAttempts(math.MinInt) }},
		{"MaxElapsed(MinInt64)", "job: ", func() { job.MaxElapsed(math.MinInt64) }},
		{"AttemptTimeout(-1ns)", "job: ", func() { job.AttemptTimeout(-1) }},
		{"MaxWait(-1h)", "job: ", func() { job.MaxWait(-time.Hour) }},
		{"Wait(nil)", "job: ", func() { job.Wait(nil) }},
		{"Jitter(nil)", "job: ", func() { job.Jitter(nil) }},
		{"NewPolicy(Key)", "job: ", func() { job.NewPolicy(job.Key("k")) }},
		{"NewPolicy(Clock)", "job: ", func() { job.NewPolicy(job.Clock(clock.NewMock())) }},
		{"NewPolicy(Rand)", "job: ", func() { job.NewPolicy(job.Rand(nil)) }},
		{"Exponential(factor NaN)", "wait: ", func() { wait.Exponential(time.Second, math.NaN(), time.Minute) }},
		{"Exponential(factor +Inf)", "wait: ", func() { wait.Exponential(time.Second, math.Inf(1), time.Minute) }},
		{"Exponential(factor -Inf)", "wait: ", func() { wait.Exponential(time.Second, math.Inf(-1), time.Minute) }},
		{"Exponential(factor 0.5)", "wait: ", func() { wait.Exponential(time.Second, 0.5, time.Minute) }},
		{"Exponential(factor -2)", "wait: ", func() { wait.Exponential(time.Second, -2, time.Minute) }},
		{"Exponential(base 0)", "wait: ", func() { wait.Exponential(0, 2, time.Minute) }},
		{"Exponential(base -1s)", "wait: ", func() { wait.Exponential(-time.Second, 2, time.Minute) }},
		{"Fibonacci(base 0)", "wait: ", func() { wait.Fibonacci(0, time.Minute) }},
		{"Fibonacci(base MinInt64)", "wait: ", func() { wait.Fibonacci(math.MinInt64, time.Minute) }},
		{"Decorrelated(base 0)", "wait: ", func() { wait.Decorrelated(0, time.Minute) }},
		{"Decorrelated(base -1ns)", "wait: ", func() { wait.Decorrelated(-1, time.Minute) }},
		{"Constant(-1ns)", "wait: ", func() { wait.Constant(-1) }},
		{"Linear(base -1s)", "wait: ", func() { wait.Linear(-time.Second, time.Second, 0) }},
		{"Linear(step -1s)", "wait: ", func() { wait.Linear(time.Second, -time.Second, 0) }},
		{"Schedule(1s, -1s)", "wait: ", func() { wait.Schedule(time.Second, -time.Second) }},
		{"Proportional(NaN)", "jitter: ", func() { jitter.Proportional(math.NaN()) }},
		{"Proportional(+Inf)", "jitter: ", func() { jitter.Proportional(math.Inf(1)) }},
		{"Proportional(-0.1)", "jitter: ", func() { jitter.Proportional(-0.1) }},
		{"Proportional(1.5)", "jitter: ", func() { jitter.Proportional(1.5) }},
		{"Additive(-1ns)", "jitter: ", func() { jitter.Additive(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, panicked := panicMessage(tt.call)
			if !panicked {
				t.Fatalf("%s did not panic", tt.name)
			}
			if !strings.HasPrefix(msg, tt.prefix) {
				t.Errorf("%s panicked with %q, want the prefix %q", tt.name, msg, tt.prefix)
			}
		})
	}
}

// Nil options and a nil *Policy are ignored.
func TestBadInputNilOptions(t *testing.T) {
	var p *job.Policy
	op, calls := failing(1, errTransient, 3)
	v, err := job.Do(context.Background(), op, nil, p, job.Wait(wait.Constant(0)), nil)
	if v != 3 || err != nil || *calls != 2 {
		t.Errorf("Do with nil options = %d, %v after %d attempts; want 3, nil after 2", v, err, *calls)
	}
	if _, err := job.Do(context.Background(), op, job.NewPolicy(nil, nil)); err != nil {
		t.Errorf("Do with NewPolicy(nil, nil) = %v", err)
	}
}

// Durations at both ends of their range: a MaxElapsed too small for any
// attempt gives up with ErrDeadline without calling the operation on a
// done context; the largest values mean "practically no bound".
func TestBadInputDurations(t *testing.T) {
	t.Run("MaxElapsed(1ns)", func(t *testing.T) {
		for range 100 {
			calls := 0
			_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
				calls++
				if ctx.Err() != nil {
					t.Fatalf("attempt started on a done context: %v", context.Cause(ctx))
				}
				return 1, nil
			}, job.MaxElapsed(1))
			if err == nil {
				continue // the clock did not move between the call and the attempt
			}
			if e := jobError(t, err); e.Reason != job.ErrDeadline || calls > 1 {
				t.Fatalf("err = %v after %d calls, want ErrDeadline", err, calls)
			}
		}
	})
	t.Run("maximum MaxElapsed, AttemptTimeout, MaxWait, MaxAttempts", func(t *testing.T) {
		op, calls := failing(3, errTransient, 4)
		v, err := job.Do(context.Background(), op,
			job.MaxElapsed(math.MaxInt64), job.AttemptTimeout(math.MaxInt64), job.MaxWait(math.MaxInt64),
			job.MaxAttempts(math.MaxInt), job.Wait(wait.Constant(0)))
		if v != 4 || err != nil || *calls != 4 {
			t.Errorf("Do = %d, %v after %d attempts; want 4, nil after 4", v, err, *calls)
		}
	})
	t.Run("Exponential(1ns, 1e308, 0): saturates, no overflow", func(t *testing.T) {
		s := wait.Exponential(1, 1e308, 0)
		prev := time.Duration(0)
		for _, n := range []int{1, 2, 3, 64, math.MaxInt} {
			d, ok := s.Delay(n, prev, nil)
			if !ok || d < prev || d < 0 {
				t.Errorf("Delay(%d) = %v, %v; want a non-negative, non-decreasing delay", n, d, ok)
			}
			prev = d
		}
	})
}

// customHint is an error with any RetryAfter value, even one job.RetryAfter
// would not make.
type customHint time.Duration

func (h customHint) Error() string             { return "503 with a custom hint" }
func (h customHint) RetryAfter() time.Duration { return time.Duration(h) }

// Absurd Retry-After hints: negative counts as 0 (retry at once); one above
// MaxWait, or past the deadline, ends the job at once with ErrDeadline
// instead of waiting for years; with MaxWait(0) (no ceiling, the caller's
// explicit choice) the wait is bounded by ctx, and Do returns as soon as
// ctx ends. In a synctest bubble, the time Do took is exact: 0 when it
// must not wait.
func TestBadInputAbsurdRetryAfter(t *testing.T) {
	parsed, ok := job.ParseRetryAfter("99999999999999999999999999", time.Now())
	if !ok || parsed != math.MaxInt64 {
		t.Fatalf("ParseRetryAfter(huge) = %v, %v; want MaxInt64, true", parsed, ok)
	}
	farDate, ok := job.ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", time.Now())
	if !ok || farDate < 100*365*24*time.Hour {
		t.Fatalf("ParseRetryAfter(year 9999) = %v, %v", farDate, ok)
	}
	tests := []struct {
		name       string
		err        error
		opts       []job.Option
		wantReason error // nil: retried at once, then success
	}{
		{"RetryAfter(-1h)", job.RetryAfter(errTransient, -time.Hour), nil, nil},
		{"RetryAfter(MinInt64)", job.RetryAfter(errTransient, math.MinInt64), nil, nil},
		{"custom RetryAfter() = MinInt64", customHint(math.MinInt64), nil, nil},
		{"custom RetryAfter() = -1ns", customHint(-1), nil, nil},
		{"RetryAfter(MaxInt64)", job.RetryAfter(errTransient, math.MaxInt64), nil, job.ErrDeadline},
		{"custom RetryAfter() = MaxInt64", customHint(math.MaxInt64), nil, job.ErrDeadline},
		{"RetryAfter(parsed 10^26 seconds)", job.RetryAfter(errTransient, parsed), nil, job.ErrDeadline},
		{"RetryAfter(parsed year 9999)", job.RetryAfter(errTransient, farDate), nil, job.ErrDeadline},
		{"RetryAfter(MaxWait+1ns)", job.RetryAfter(errTransient, time.Hour+1), nil, job.ErrDeadline},
		{"RetryAfter(1h), MaxElapsed(30m), MaxWait(0)", job.RetryAfter(errTransient, time.Hour), []job.Option{job.MaxElapsed(30 * time.Minute), job.MaxWait(0)}, job.ErrDeadline},
		{"RetryAfter(MaxInt64), MaxElapsed(MaxInt64), MaxWait(0)", job.RetryAfter(errTransient, math.MaxInt64), []job.Option{job.MaxElapsed(math.MaxInt64), job.MaxWait(0)}, job.ErrDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, calls := failing(1, tt.err, 8)
				opts := append([]job.Option{job.Wait(wait.Constant(0)), job.Jitter(jitter.None)}, tt.opts...)
				start := time.Now()
				v, err := job.Do(context.Background(), op, opts...)
				if d := time.Since(start); d != 0 {
					t.Errorf("Do took %v, want 0: it waited on the hint instead of giving up or retrying at once", d)
				}
				if tt.wantReason == nil {
					if v != 8 || err != nil || *calls != 2 {
						t.Errorf("Do = %d, %v after %d attempts; want 8, nil after 2", v, err, *calls)
					}
					return
				}
				e := jobError(t, err)
				if e.Reason != tt.wantReason || e.Attempts != 1 || e.Last == nil || !errors.Is(err, e.Last) {
					t.Errorf("err = %v (Reason %v, %d attempts); want Reason %v after 1 attempt, keeping the error", err, e.Reason, e.Attempts, tt.wantReason)
				}
			})
		})
	}
	t.Run("RetryAfter(100 years), MaxWait(0): bounded by ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			stop := errors.New("bad: caller stopped waiting")
			time.AfterFunc(time.Hour, func() { cancel(stop) }) // an hour into the wait
			op, calls := failing(1, job.RetryAfter(errTransient, 100*365*24*time.Hour), 8)
			start := time.Now()
			_, err := job.Do(ctx, op, job.MaxWait(0))
			if d := time.Since(start); d != time.Hour {
				t.Errorf("Do returned after %v, want 1h: when its ctx ended", d)
			}
			if e := jobError(t, err); e.Reason != stop || !errors.Is(err, errTransient) || *calls != 1 {
				t.Errorf("err = %v after %d attempts; want Reason %v keeping %v after 1", err, *calls, stop, errTransient)
			}
		})
	})
}

// Keys are per-job data passed through to hooks unchanged, however long;
// the empty key is no key.
func TestBadInputKeys(t *testing.T) {
	for _, key := range []string{"", strings.Repeat("k", 1<<20), "\x00\xff not utf-8 \u2028"} {
		t.Run(fmt.Sprintf("len %d", len(key)), func(t *testing.T) {
			var seen []string
			hook := func(e job.Event) { seen = append(seen, e.Key) }
			op, _ := failing(1, errTransient, 1)
			if _, err := job.Do(context.Background(), op, job.Key(key), job.Wait(wait.Constant(0)),
				job.OnRetry(hook), job.OnSuccess(hook)); err != nil {
				t.Fatalf("Do = %v", err)
			}
			if len(seen) != 2 || seen[0] != key || seen[1] != key {
				t.Errorf("hooks saw keys of lengths %v, want [%d %d]", keyLengths(seen), len(key), len(key))
			}
		})
	}
}

func keyLengths(ss []string) []int {
	var ns []int
	for _, s := range ss {
		ns = append(ns, len(s))
	}
	return ns
}
