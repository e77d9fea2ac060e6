package job_test

// One test (or two) per rule of the job contract (the "Rules" section of
// the package doc). Most run in a synctest bubble: Do uses the real clock,
// whose time is fake and instant there, and a Do that waited on a timer
// nobody fires would be reported as a deadlock instead of hanging.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// Rule 1: no wait and no jitter before the first attempt.
func TestNoWaitOrJitterBeforeFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			attempts int
			jittered []int // the attempts made when the jitter was called
		)
		record := jitter.Func(func(d time.Duration, _ *rand.Rand) time.Duration {
			jittered = append(jittered, attempts)
			return d
		})
		start := time.Now()
		var first time.Time
		_, err := job.Do(t.Context(), func(context.Context) (int, error) {
			attempts++
			if attempts == 1 {
				first = time.Now()
			}
			if attempts < 4 {
				return 0, errTransient
			}
			return 1, nil
		}, job.Wait(wait.Constant(time.Second)), job.Jitter(record))
		if err != nil {
			t.Fatalf("Do() error = %v, want nil", err)
		}
		if d := first.Sub(start); d != 0 {
			t.Errorf("first attempt started %v after the call, want 0", d)
		}
		if want := []int{1, 2, 3}; !slices.Equal(jittered, want) {
			t.Errorf("jitter called after attempts %v, want %v", jittered, want)
		}
	})
}

// Rule 1: jitter is applied after the strategy's cap (and MaxWait cuts the
// jittered delay).
func TestJitterAppliedAfterCap(t *testing.T) {
	tests := []struct {
		name       string
		strategy   wait.Strategy
		jitter     func(time.Duration) time.Duration
		opts       []job.Option
		wantInputs []time.Duration // what the jitter is given
		wantWaits  []time.Duration // what is waited
	}{
		{
			name:       "None: waits are the capped delays",
			strategy:   wait.Exponential(time.Second, 2, 4*time.Second),
			jitter:     func(d time.Duration) time.Duration { return d },
			wantInputs: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
			wantWaits:  []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name:       "doubling jitter sees the capped delay",
			strategy:   wait.Exponential(time.Second, 2, 4*time.Second),
			jitter:     func(d time.Duration) time.Duration { return 2 * d },
			wantInputs: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
			wantWaits:  []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second},
		},
		{
			name:       "MaxWait cuts the jittered delay",
			strategy:   wait.Exponential(time.Second, 2, 0),
			jitter:     func(d time.Duration) time.Duration { return d },
			opts:       []job.Option{job.MaxWait(3 * time.Second)},
			wantInputs: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second},
			wantWaits:  []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var inputs, waits, gaps []time.Duration
				j := jitter.Func(func(d time.Duration, _ *rand.Rand) time.Duration {
					inputs = append(inputs, d)
					return tt.jitter(d)
				})
				var last time.Time
				op := func(context.Context) (int, error) {
					if now := time.Now(); !last.IsZero() {
						gaps = append(gaps, now.Sub(last))
					}
					last = time.Now()
					return 0, errTransient
				}
				opts := append([]job.Option{
					job.MaxAttempts(6), job.Wait(tt.strategy), job.Jitter(j),
					job.OnRetry(func(e job.Event) { waits = append(waits, e.Wait) }),
				}, tt.opts...)
				_, err := job.Do(t.Context(), op, opts...)
				if !errors.Is(err, job.ErrExhausted) {
					t.Fatalf("Do() error = %v, want ErrExhausted", err)
				}
				if !slices.Equal(inputs, tt.wantInputs) {
					t.Errorf("jitter inputs = %v, want %v", inputs, tt.wantInputs)
				}
				if !slices.Equal(waits, tt.wantWaits) {
					t.Errorf("OnRetry waits = %v, want %v", waits, tt.wantWaits)
				}
				if !slices.Equal(gaps, tt.wantWaits) {
					t.Errorf("time between attempts = %v, want %v", gaps, tt.wantWaits)
				}
			})
		})
	}
}

// Rule 1 (jitter package doc): no jitter on top of a strategy that
// randomises itself.
func TestNoJitterOnSelfJitteredStrategy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		called := 0
		j := jitter.Func(func(d time.Duration, _ *rand.Rand) time.Duration {
			called++
			return d
		})
		op, _ := failing(3, errTransient, 1)
		_, err := job.Do(t.Context(), op,
			job.Wait(wait.Decorrelated(time.Second, time.Minute)), job.Jitter(j),
			job.Rand(rand.New(rand.NewPCG(1, 2))))
		if err != nil {
			t.Fatalf("Do() error = %v, want nil", err)
		}
		if called != 0 {
			t.Errorf("jitter called %d times on wait.Decorrelated, want 0", called)
		}
	})
}

// Rule 2: an attempt never starts on a done context.
func TestNoAttemptOnDoneContext(t *testing.T) {
	cause := errors.New("shutting down")
	tests := []struct {
		name       string
		ctx        func() context.Context
		opts       []job.Option
		wantReason error
	}{
		{
			name: "canceled",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantReason: context.Canceled,
		},
		{
			name: "canceled, policy with time",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			opts:       []job.Option{job.MaxElapsed(time.Minute), job.AttemptTimeout(time.Second)},
			wantReason: context.Canceled,
		},
		{
			name: "canceled with a cause",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancelCause(context.Background())
				cancel(cause)
				return ctx
			},
			wantReason: cause,
		},
		{
			name: "deadline passed",
			ctx: func() context.Context {
				ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
				cancel() // the deadline has passed already: Err stays DeadlineExceeded
				return ctx
			},
			wantReason: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			hook := func(e job.Event) { t.Errorf("hook called with %+v on a job that made no attempt", e) }
			opts := append([]job.Option{job.OnRetry(hook), job.OnGiveUp(hook), job.OnSuccess(hook)}, tt.opts...)
			v, err := job.Do(tt.ctx(), func(context.Context) (int, error) {
				calls++
				return 1, nil
			}, opts...)
			if calls != 0 {
				t.Errorf("op called %d times, want 0", calls)
			}
			if v != 0 {
				t.Errorf("Do() = %d, want 0", v)
			}
			e := jobError(t, err)
			if e.Attempts != 0 {
				t.Errorf("Do() attempts = %d, want 0", e.Attempts)
			}
			if e.Reason != tt.wantReason || !errors.Is(err, tt.wantReason) {
				t.Errorf("Do() reason = %v, want %v", e.Reason, tt.wantReason)
			}
			if e.Last != nil {
				t.Errorf("Do() last = %v, want nil", e.Last)
			}
		})
	}
}

// Rule 3: MaxElapsed counts from the call and bounds each attempt's context:
// a hung attempt ends when it passes, and the job gives up with ErrDeadline.
func TestMaxElapsedBoundsHungAttempt(t *testing.T) {
	const maxElapsed = 5 * time.Second
	tests := []struct {
		name string
		opts []job.Option
	}{
		{"MaxElapsed", []job.Option{job.MaxElapsed(maxElapsed)}},
		{"MaxElapsed before a longer AttemptTimeout", []job.Option{job.MaxElapsed(maxElapsed), job.AttemptTimeout(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ended []time.Duration // when each attempt's context ended
				start := time.Now()
				opts := append([]job.Option{job.Wait(wait.Constant(0))}, tt.opts...)
				_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
					<-ctx.Done()
					ended = append(ended, time.Since(start))
					return 0, ctx.Err()
				}, opts...)
				if want := []time.Duration{maxElapsed}; !slices.Equal(ended, want) {
					t.Errorf("attempts' contexts ended at %v, want %v (one attempt, ended by MaxElapsed)", ended, want)
				}
				if !errors.Is(err, job.ErrDeadline) {
					t.Errorf("Do() error = %v, want ErrDeadline", err)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Do() error = %v, want the attempt's context.DeadlineExceeded as Last", err)
				}
				e := jobError(t, err)
				if e.Attempts != 1 {
					t.Errorf("Do() attempts = %d, want 1", e.Attempts)
				}
				if e.Elapsed != maxElapsed {
					t.Errorf("Do() elapsed = %v, want %v", e.Elapsed, maxElapsed)
				}
			})
		})
	}
}

// Rule 4: a job never sleeps past its deadline: when the next attempt would
// start after it, the job gives up at once with ErrDeadline, keeping the last
// error. In synctest, time advances only while the job waits.
func TestNeverSleepsPastDeadline(t *testing.T) {
	tests := []struct {
		name         string
		timeout      time.Duration // of the job's ctx; 0: none
		opts         []job.Option
		wantAttempts int
		wantElapsed  time.Duration // time that passed in Do
	}{
		{
			name:         "MaxElapsed shorter than the first wait",
			opts:         []job.Option{job.MaxElapsed(10 * time.Second), job.Wait(wait.Constant(20 * time.Second))},
			wantAttempts: 1,
			wantElapsed:  0,
		},
		{
			name:         "ctx deadline shorter than the first wait",
			timeout:      10 * time.Second,
			opts:         []job.Option{job.Wait(wait.Constant(20 * time.Second))},
			wantAttempts: 1,
			wantElapsed:  0,
		},
		{
			name:         "waits while they fit",
			opts:         []job.Option{job.MaxElapsed(10 * time.Second), job.Wait(wait.Constant(4 * time.Second))},
			wantAttempts: 3, // at 0s, 4s, 8s; 12s is past the deadline
			wantElapsed:  8 * time.Second,
		},
		{
			name:         "no attempt at the deadline itself",
			opts:         []job.Option{job.MaxElapsed(10 * time.Second), job.Wait(wait.Constant(5 * time.Second))},
			wantAttempts: 2, // at 0s, 5s; 10s is the deadline
			wantElapsed:  5 * time.Second,
		},
		{
			name:         "earlier of MaxElapsed and ctx deadline",
			timeout:      6 * time.Second,
			opts:         []job.Option{job.MaxElapsed(time.Minute), job.Wait(wait.Constant(4 * time.Second))},
			wantAttempts: 2, // at 0s, 4s; 8s is past the ctx's deadline
			wantElapsed:  4 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				op, calls := failing(100, errTransient, 0)
				start := time.Now()
				opts := append([]job.Option{job.MaxAttempts(0), job.Jitter(jitter.None)}, tt.opts...)
				_, err := job.Do(ctx, op, opts...)
				if got := time.Since(start); got != tt.wantElapsed {
					t.Errorf("Do() took %v, want %v", got, tt.wantElapsed)
				}
				if !errors.Is(err, job.ErrDeadline) || !errors.Is(err, errTransient) {
					t.Errorf("Do() error = %v, want ErrDeadline wrapping %v", err, errTransient)
				}
				e := jobError(t, err)
				if e.Attempts != tt.wantAttempts || *calls != tt.wantAttempts {
					t.Errorf("Do() attempts = %d (op called %d times), want %d", e.Attempts, *calls, tt.wantAttempts)
				}
				if e.Last != errTransient {
					t.Errorf("Do() last = %v, want %v", e.Last, errTransient)
				}
			})
		})
	}
}

// Rule 4 with a slow hook: OnRetry runs after the job decided the wait fits
// before the deadline, and before the job parks. The time the hook takes must
// not push the job's sleep past its deadline, and no attempt may start on an
// attempt context that is done before it begins (rule 2).
func TestNeverSleepsPastDeadlineAfterSlowHook(t *testing.T) {
	const maxElapsed = 10 * time.Second
	tests := []struct {
		name     string
		hookTime time.Duration
	}{
		{"hook ends before the deadline", 6 * time.Second},
		{"hook ends after the deadline", 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The hook takes its time: it sleeps hookTime, past the 5s
				// wait that counts from the verdict, before the hook.
				start := time.Now()
				var doneAtStart []int
				calls := 0
				_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
					calls++
					if ctx.Err() != nil {
						doneAtStart = append(doneAtStart, calls)
					}
					return 0, errTransient
				},
					job.MaxAttempts(0), job.MaxElapsed(maxElapsed),
					job.Wait(wait.Constant(5*time.Second)), job.Jitter(jitter.None),
					job.OnRetry(func(job.Event) { time.Sleep(tt.hookTime) }))
				if !errors.Is(err, job.ErrDeadline) {
					t.Errorf("Do() error = %v, want ErrDeadline", err)
				}
				if len(doneAtStart) > 0 {
					t.Errorf("attempts %v started on a done context", doneAtStart)
				}
				// The job itself must not sleep past the deadline: only the
				// hook may hold it there.
				if got, limit := time.Since(start), max(maxElapsed, tt.hookTime); got > limit {
					t.Errorf("Do() took %v, want at most %v", got, limit)
				}
			})
		})
	}
}

// Rule 5: an attempt's own timeout, or a context error the operation returns
// while the job's context is alive, is an ordinary, retryable error.
func TestAttemptTimeoutIsRetryable(t *testing.T) {
	tests := []struct {
		name    string
		first   func(ctx context.Context) error // the first attempt
		wantErr error                           // the first attempt's error, as OnRetry sees it
		wantAt  time.Duration                   // when attempt 2 starts
	}{
		{
			name:    "attempt timeout expires",
			first:   func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			wantErr: context.DeadlineExceeded,
			wantAt:  time.Second,
		},
		{
			name:    "op returns context.Canceled",
			first:   func(context.Context) error { return fmt.Errorf("dial: %w", context.Canceled) },
			wantErr: context.Canceled,
			wantAt:  0,
		},
		{
			name:    "op returns context.DeadlineExceeded",
			first:   func(context.Context) error { return context.DeadlineExceeded },
			wantErr: context.DeadlineExceeded,
			wantAt:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var (
					calls     int
					secondAt  time.Duration
					retryErrs []error
				)
				v, err := job.Do(t.Context(), func(ctx context.Context) (string, error) {
					calls++
					if calls == 1 {
						return "", tt.first(ctx)
					}
					secondAt = time.Since(start)
					return "ok", nil
				},
					job.AttemptTimeout(time.Second), job.Wait(wait.Constant(0)),
					job.OnRetry(func(e job.Event) { retryErrs = append(retryErrs, e.Err) }))
				if err != nil || v != "ok" {
					t.Fatalf("Do() = %q, %v, want %q, nil", v, err, "ok")
				}
				if calls != 2 {
					t.Errorf("Do() attempts = %d, want 2", calls)
				}
				if secondAt != tt.wantAt {
					t.Errorf("attempt 2 started at %v, want %v", secondAt, tt.wantAt)
				}
				if len(retryErrs) != 1 || !errors.Is(retryErrs[0], tt.wantErr) {
					t.Errorf("OnRetry errors = %v, want [%v]", retryErrs, tt.wantErr)
				}
			})
		})
	}
}

// Rule 5: the job's own context being done is final, and the job's error
// wraps both the context's cause and the last attempt's error.
func TestOwnCancellationIsFinal(t *testing.T) {
	cause := errors.New("shutting down")
	blockThenFail := func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("fetch: %w", ctx.Err())
	}
	tests := []struct {
		name         string
		opts         []job.Option
		attempt      func(n int, ctx context.Context) error // n: attempt number
		wantAttempts int
		wantLast     error // errors.Is target for the job's last error
		wantGiveUp   bool  // whether OnGiveUp runs (only when an attempt was running)
	}{
		{
			name:         "during the first attempt",
			attempt:      func(_ int, ctx context.Context) error { return blockThenFail(ctx) },
			wantAttempts: 1,
			wantLast:     context.Canceled,
			wantGiveUp:   true,
		},
		{
			name:         "during an attempt with its own timeout",
			opts:         []job.Option{job.AttemptTimeout(time.Minute)},
			attempt:      func(_ int, ctx context.Context) error { return blockThenFail(ctx) },
			wantAttempts: 1,
			wantLast:     context.Canceled,
			wantGiveUp:   true,
		},
		{
			name: "during a later attempt",
			attempt: func(n int, ctx context.Context) error {
				if n == 1 {
					return errTransient
				}
				return blockThenFail(ctx)
			},
			wantAttempts: 2,
			wantLast:     context.Canceled,
			wantGiveUp:   true,
		},
		{
			name:         "during the wait",
			opts:         []job.Option{job.Wait(wait.Constant(10 * time.Second)), job.Jitter(jitter.None)},
			attempt:      func(int, context.Context) error { return errTransient },
			wantAttempts: 1,
			wantLast:     errTransient,
			wantGiveUp:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				time.AfterFunc(time.Second, func() { cancel(cause) })
				start := time.Now()
				var calls, giveUps int
				opts := append([]job.Option{
					job.Wait(wait.Constant(0)),
					job.RetryIf(func(error) bool { return true }),
					job.OnGiveUp(func(job.Event) { giveUps++ }),
				}, tt.opts...)
				_, err := job.Do(ctx, func(ctx context.Context) (int, error) {
					calls++
					return 0, tt.attempt(calls, ctx)
				}, opts...)
				if got := time.Since(start); got != time.Second {
					t.Errorf("Do() returned after %v, want 1s (at the cancellation)", got)
				}
				e := jobError(t, err)
				if e.Reason != cause || !errors.Is(err, cause) {
					t.Errorf("Do() reason = %v, want the cause %v", e.Reason, cause)
				}
				if !errors.Is(err, tt.wantLast) {
					t.Errorf("Do() error = %v, want it to wrap the last attempt's %v", err, tt.wantLast)
				}
				if e.Attempts != tt.wantAttempts || calls != tt.wantAttempts {
					t.Errorf("Do() attempts = %d (op called %d times), want %d", e.Attempts, calls, tt.wantAttempts)
				}
				if wantGiveUps := map[bool]int{true: 1, false: 0}[tt.wantGiveUp]; giveUps != wantGiveUps {
					t.Errorf("OnGiveUp ran %d times, want %d", giveUps, wantGiveUps)
				}
			})
		})
	}
}

// Rule 6: RetryIf cannot override Permanent errors or the job's own
// cancellation; what it rejects ends the job with ErrPermanent.
func TestRetryIfCannotOverridePermanentOrCancellation(t *testing.T) {
	errFatal := errors.New("401 Unauthorized")
	tests := []struct {
		name       string
		retryIf    func(error) bool
		attempt    func(ctx context.Context, cancel context.CancelFunc) error
		wantReason error
		wantLast   error
	}{
		{
			name:       "Permanent",
			retryIf:    func(error) bool { return true },
			attempt:    func(context.Context, context.CancelFunc) error { return job.Permanent(errFatal) },
			wantReason: job.ErrPermanent,
			wantLast:   errFatal,
		},
		{
			name:    "Permanent deep in the chain",
			retryIf: func(error) bool { return true },
			attempt: func(context.Context, context.CancelFunc) error {
				return fmt.Errorf("call: %w", job.Permanent(errFatal))
			},
			wantReason: job.ErrPermanent,
			wantLast:   errFatal,
		},
		{
			name:    "job's context canceled",
			retryIf: func(error) bool { return true },
			attempt: func(ctx context.Context, cancel context.CancelFunc) error {
				cancel()
				return ctx.Err()
			},
			wantReason: context.Canceled,
			wantLast:   context.Canceled,
		},
		{
			name:       "RetryIf says no",
			retryIf:    func(err error) bool { return !errors.Is(err, errFatal) },
			attempt:    func(context.Context, context.CancelFunc) error { return errFatal },
			wantReason: job.ErrPermanent,
			wantLast:   errFatal,
		},
		{
			name:       "RetryIf panics",
			retryIf:    func(error) bool { panic("bad predicate") },
			attempt:    func(context.Context, context.CancelFunc) error { return errFatal },
			wantReason: job.ErrPermanent,
			wantLast:   errFatal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			_, err := job.Do(ctx, func(ctx context.Context) (int, error) {
				calls++
				return 0, tt.attempt(ctx, cancel)
			}, job.RetryIf(tt.retryIf), job.Wait(wait.Constant(0)))
			if calls != 1 {
				t.Errorf("Do() attempts = %d, want 1", calls)
			}
			e := jobError(t, err)
			if e.Reason != tt.wantReason {
				t.Errorf("Do() reason = %v, want %v", e.Reason, tt.wantReason)
			}
			if !errors.Is(err, tt.wantLast) {
				t.Errorf("Do() error = %v, want it to wrap %v", err, tt.wantLast)
			}
		})
	}
}

// Rule 7: with RetryOnResult, the last value comes back with the error.
func TestRetryOnResultReturnsLastValue(t *testing.T) {
	errFatal := errors.New("fatal")
	tests := []struct {
		name       string
		attempt    func(n int) (int, error)
		retry      func(int) bool
		wantValue  int
		wantReason error // nil: success
		wantCalls  int
	}{
		{
			name:      "accepted on attempt 2",
			attempt:   func(n int) (int, error) { return n * 10, nil },
			retry:     func(v int) bool { return v < 20 },
			wantValue: 20,
			wantCalls: 2,
		},
		{
			name:       "never accepted",
			attempt:    func(n int) (int, error) { return n * 10, nil },
			retry:      func(int) bool { return true },
			wantValue:  30,
			wantReason: job.ErrExhausted,
			wantCalls:  3,
		},
		{
			name: "permanent error after a rejected value",
			attempt: func(n int) (int, error) {
				if n == 2 {
					return 7, job.Permanent(errFatal)
				}
				return n * 10, nil
			},
			retry:      func(int) bool { return true },
			wantValue:  7,
			wantReason: job.ErrPermanent,
			wantCalls:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			v, err := job.Do(context.Background(), func(context.Context) (int, error) {
				calls++
				return tt.attempt(calls)
			}, job.RetryOnResult(tt.retry), job.MaxAttempts(3), job.Wait(wait.Constant(0)))
			if v != tt.wantValue {
				t.Errorf("Do() = %d, want %d", v, tt.wantValue)
			}
			if calls != tt.wantCalls {
				t.Errorf("Do() attempts = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantReason == nil {
				if err != nil {
					t.Errorf("Do() error = %v, want nil", err)
				}
				return
			}
			if e := jobError(t, err); e.Reason != tt.wantReason || e.Last == nil {
				t.Errorf("Do() error = %v (reason %v, last %v), want reason %v and a last error", err, e.Reason, e.Last, tt.wantReason)
			}
		})
	}
}

// Rule 7: a RetryOnResult predicate for another type than the job's panics
// with a message naming RetryOnResult, before any attempt.
func TestRetryOnResultWrongTypePanics(t *testing.T) {
	tests := []struct {
		name string
		opt  job.Option
	}{
		{"option", job.RetryOnResult(func(int) bool { return true })},
		{"in a Policy", job.NewPolicy(job.RetryOnResult(func(int) bool { return true }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			msg, panicked := panicMessage(func() {
				_, _ = job.Do(context.Background(), func(context.Context) (string, error) {
					calls++
					return "", nil
				}, tt.opt)
			})
			if !panicked {
				t.Fatal("Do[string] with RetryOnResult[int] did not panic")
			}
			for _, want := range []string{"job: ", "RetryOnResult", "int", "string"} {
				if !strings.Contains(msg, want) {
					t.Errorf("panic message %q does not contain %q", msg, want)
				}
			}
			if calls != 0 {
				t.Errorf("op called %d times, want 0", calls)
			}
		})
	}
}

// hintErr is an error type of its own that carries a Retry-After hint.
type hintErr struct{ d time.Duration }

func (e hintErr) Error() string             { return fmt.Sprintf("503 Service Unavailable (retry after %v)", e.d) }
func (e hintErr) RetryAfter() time.Duration { return e.d }

// Rule 8: a hint is a lower bound: wait = max(hint, jittered delay).
func TestHintIsLowerBound(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		strategy wait.Strategy
		jitter   jitter.Jitter
		want     time.Duration
	}{
		{"hint above the delay", job.RetryAfter(errTransient, time.Second), wait.Constant(10 * time.Millisecond), jitter.None, time.Second},
		{"delay above the hint", job.RetryAfter(errTransient, 10*time.Millisecond), wait.Constant(2 * time.Second), jitter.None, 2 * time.Second},
		{"hint equals the unjittered delay", job.RetryAfter(errTransient, time.Second), wait.Constant(time.Second), jitter.Full, time.Second},
		{"zero hint", job.RetryAfter(errTransient, 0), wait.Constant(time.Second), jitter.None, time.Second},
		{"negative hint", job.RetryAfter(errTransient, -time.Hour), wait.Constant(time.Second), jitter.None, time.Second},
		{"custom error type", hintErr{3 * time.Second}, wait.Constant(0), jitter.None, 3 * time.Second},
		{"custom error type in the chain", fmt.Errorf("GET /: %w", hintErr{3 * time.Second}), wait.Constant(0), jitter.None, 3 * time.Second},
		{"RetryAfter deep in the chain", fmt.Errorf("GET /: %w", job.RetryAfter(errTransient, 4*time.Second)), wait.Constant(0), jitter.None, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, calls := failing(1, tt.err, 1)
				var waits []time.Duration
				start := time.Now()
				_, err := job.Do(t.Context(), op,
					job.Wait(tt.strategy), job.Jitter(tt.jitter), job.Rand(rand.New(rand.NewPCG(1, 2))),
					job.OnRetry(func(e job.Event) { waits = append(waits, e.Wait) }))
				if err != nil || *calls != 2 {
					t.Fatalf("Do() error = %v after %d attempts, want nil after 2", err, *calls)
				}
				if len(waits) != 1 || waits[0] != tt.want {
					t.Errorf("OnRetry waits = %v, want [%v]", waits, tt.want)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("Do() took %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// Rule 8: a hint above MaxWait, or past the deadline, ends the job now with
// ErrDeadline; a hint of exactly MaxWait is waited.
func TestHintBeyondLimitsGivesUp(t *testing.T) {
	tests := []struct {
		name     string
		hint     time.Duration
		opts     []job.Option
		wantWait bool // the job waits out the hint and succeeds
	}{
		{"above the default MaxWait (1h)", 2 * time.Hour, nil, false},
		{"above MaxWait", 2 * time.Second, []job.Option{job.MaxWait(time.Second)}, false},
		{"past MaxElapsed", 10 * time.Second, []job.Option{job.MaxElapsed(5 * time.Second)}, false},
		{"exactly MaxWait", 2 * time.Second, []job.Option{job.MaxWait(2 * time.Second)}, true},
		{"no ceiling", 2 * time.Hour, []job.Option{job.MaxWait(0)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hinted := job.RetryAfter(errTransient, tt.hint)
				op, calls := failing(1, hinted, 1)
				start := time.Now()
				opts := append([]job.Option{job.Wait(wait.Constant(0))}, tt.opts...)
				_, err := job.Do(t.Context(), op, opts...)
				elapsed := time.Since(start)
				if tt.wantWait {
					if err != nil || *calls != 2 || elapsed != tt.hint {
						t.Errorf("Do() = %v after %d attempts in %v, want nil after 2 in %v", err, *calls, elapsed, tt.hint)
					}
					return
				}
				if !errors.Is(err, job.ErrDeadline) || !errors.Is(err, errTransient) {
					t.Errorf("Do() error = %v, want ErrDeadline wrapping %v", err, errTransient)
				}
				if *calls != 1 {
					t.Errorf("Do() attempts = %d, want 1", *calls)
				}
				if elapsed != 0 {
					t.Errorf("Do() took %v, want 0 (give up at once)", elapsed)
				}
			})
		})
	}
}

// Rule 8: an attempt that ends with a hint counts toward MaxAttempts.
func TestHintCountsTowardMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op, calls := failing(10, job.RetryAfter(errTransient, time.Second), 1)
		_, err := job.Do(t.Context(), op, job.MaxAttempts(3), job.Wait(wait.Constant(0)))
		if !errors.Is(err, job.ErrExhausted) || *calls != 3 {
			t.Errorf("Do() = %v after %d attempts, want ErrExhausted after 3", err, *calls)
		}
	})
}

// Rule 9: each hook runs exactly once per event, with the attempt number,
// elapsed time, next wait, error and key.
func TestHooksRunOncePerEvent(t *testing.T) {
	e1, e2 := errors.New("e1"), errors.New("e2")
	tests := []struct {
		name        string
		maxAttempts int
		wantRetry   []job.Event
		wantSuccess []job.Event
		wantGiveUp  *job.Event // Err checked apart: it is the job's *Error
	}{
		{
			name:        "success on attempt 3",
			maxAttempts: 10,
			wantRetry: []job.Event{
				{Attempt: 1, Elapsed: 100 * time.Millisecond, Wait: time.Second, Err: e1, Key: "k"},
				{Attempt: 2, Elapsed: 1200 * time.Millisecond, Wait: time.Second, Err: e2, Key: "k"},
			},
			wantSuccess: []job.Event{{Attempt: 3, Elapsed: 2300 * time.Millisecond, Key: "k"}},
		},
		{
			name:        "give up after attempt 2",
			maxAttempts: 2,
			wantRetry: []job.Event{
				{Attempt: 1, Elapsed: 100 * time.Millisecond, Wait: time.Second, Err: e1, Key: "k"},
			},
			wantGiveUp: &job.Event{Attempt: 2, Elapsed: 1200 * time.Millisecond, Key: "k"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each attempt's work takes 100ms; the waits pass in the bubble.
			synctest.Test(t, func(t *testing.T) {
				var retries, successes, giveUps []job.Event
				calls := 0
				_, err := job.Do(context.Background(), func(context.Context) (int, error) {
					calls++
					time.Sleep(100 * time.Millisecond) // the attempt's work
					switch calls {
					case 1:
						return 0, e1
					case 2:
						return 0, e2
					}
					return 1, nil
				},
					job.MaxAttempts(tt.maxAttempts), job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None),
					job.Key("k"),
					job.OnRetry(func(e job.Event) { retries = append(retries, e) }),
					job.OnSuccess(func(e job.Event) { successes = append(successes, e) }),
					job.OnGiveUp(func(e job.Event) { giveUps = append(giveUps, e) }))
				if !slices.Equal(retries, tt.wantRetry) {
					t.Errorf("OnRetry events = %+v, want %+v", retries, tt.wantRetry)
				}
				if !slices.Equal(successes, tt.wantSuccess) {
					t.Errorf("OnSuccess events = %+v, want %+v", successes, tt.wantSuccess)
				}
				if tt.wantGiveUp == nil {
					if len(giveUps) != 0 || err != nil {
						t.Errorf("OnGiveUp events = %+v, Do() error = %v, want none and nil", giveUps, err)
					}
					return
				}
				if len(giveUps) != 1 {
					t.Fatalf("OnGiveUp ran %d times, want 1", len(giveUps))
				}
				got := giveUps[0]
				var e *job.Error
				if !errors.As(got.Err, &e) || got.Err != err {
					t.Errorf("OnGiveUp Event.Err = %v (%T), want the *job.Error Do returned (%v)", got.Err, got.Err, err)
				} else if e.Last != e2 || e.Attempts != 2 || e.Reason != job.ErrExhausted {
					t.Errorf("OnGiveUp Event.Err = %+v, want reason ErrExhausted, last e2, 2 attempts", e)
				}
				got.Err = nil
				if got != *tt.wantGiveUp {
					t.Errorf("OnGiveUp event = %+v, want %+v", got, *tt.wantGiveUp)
				}
			})
		})
	}
}

// Rule 9: a hook that panics does not change the job's outcome.
func TestHookPanicDoesNotChangeOutcome(t *testing.T) {
	boom := func(job.Event) { panic("hook failed") }
	tests := []struct {
		name       string
		hook       job.Option
		failures   int
		wantErr    error // nil: success
		wantCalls  int
		maxAttempt int
	}{
		{"OnRetry", job.OnRetry(boom), 2, nil, 3, 5},
		{"OnSuccess", job.OnSuccess(boom), 0, nil, 1, 5},
		{"OnGiveUp", job.OnGiveUp(boom), 10, job.ErrExhausted, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, calls := failing(tt.failures, errTransient, "ok")
			v, err := job.Do(context.Background(), op, tt.hook,
				job.MaxAttempts(tt.maxAttempt), job.Wait(wait.Constant(0)))
			if *calls != tt.wantCalls {
				t.Errorf("Do() attempts = %d, want %d", *calls, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil || v != "ok" {
					t.Errorf("Do() = %q, %v, want %q, nil", v, err, "ok")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, errTransient) {
				t.Errorf("Do() error = %v, want %v wrapping %v", err, tt.wantErr, errTransient)
			}
		})
	}
}

// panickingOp is the operation of TestPanicBecomesPermanentPanicError; its
// name must appear in the PanicError's stack.
func panickingOp(v any) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { panic(v) }
}

// Rule 10: a panic in the operation becomes a permanent *PanicError carrying
// the value and the stack; the job makes one attempt only.
func TestPanicBecomesPermanentPanicError(t *testing.T) {
	sentinel := errors.New("invariant broken")
	tests := []struct {
		name  string
		value any
		check func(t *testing.T, pe *job.PanicError, err error)
	}{
		{
			name:  "string",
			value: "boom",
			check: func(t *testing.T, pe *job.PanicError, _ error) {
				if pe.Value != "boom" {
					t.Errorf("PanicError.Value = %v, want boom", pe.Value)
				}
			},
		},
		{
			name:  "error",
			value: sentinel,
			check: func(t *testing.T, _ *job.PanicError, err error) {
				if !errors.Is(err, sentinel) {
					t.Errorf("Do() error = %v, want it to wrap the panic's error", err)
				}
			},
		},
		{
			name:  "nil",
			value: nil,
			check: func(t *testing.T, pe *job.PanicError, _ error) {
				var pn *runtime.PanicNilError
				if _, ok := pe.Value.(*runtime.PanicNilError); !ok {
					t.Errorf("PanicError.Value = %v (%T), want %T", pe.Value, pe.Value, pn)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			op := panickingOp(tt.value)
			v, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
				calls++
				return op(ctx)
			}, job.RetryIf(func(error) bool { return true }), job.Wait(wait.Constant(0)))
			if calls != 1 {
				t.Errorf("Do() attempts = %d, want 1", calls)
			}
			if v != 0 {
				t.Errorf("Do() = %d, want 0", v)
			}
			if e := jobError(t, err); e.Reason != job.ErrPermanent || e.Attempts != 1 {
				t.Errorf("Do() error = %v (reason %v, %d attempts), want ErrPermanent after 1", err, e.Reason, e.Attempts)
			}
			var pe *job.PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("Do() error = %v, want a *job.PanicError in its chain", err)
			}
			if !bytes.Contains(pe.Stack, []byte("panickingOp")) {
				t.Errorf("PanicError.Stack does not show the panicking function:\n%s", pe.Stack)
			}
			tt.check(t, pe, err)
		})
	}
}

// Rule 11: MaxAttempts(0) means unlimited.
func TestMaxAttemptsZeroIsUnlimited(t *testing.T) {
	op, calls := failing(50, errTransient, "ok")
	v, err := job.Do(context.Background(), op, job.MaxAttempts(0), job.Wait(wait.Constant(0)))
	if err != nil || v != "ok" {
		t.Fatalf("Do() = %q, %v, want %q, nil", v, err, "ok")
	}
	if *calls != 51 {
		t.Errorf("Do() attempts = %d, want 51", *calls)
	}
}

// Rule 11: the default policy makes 10 attempts.
func TestDefaultPolicyMakesTenAttempts(t *testing.T) {
	tests := []struct {
		name string
		opts []job.Option
		// maxTime bounds the time waited: the default waits are Full
		// jitter over 100ms, 200ms, ... 25.6s (9 waits, 51.1s in all).
		maxTime time.Duration
	}{
		{"no options", nil, 51100 * time.Millisecond},
		{"no waits", []job.Option{job.Wait(wait.Constant(0)), job.Jitter(jitter.None)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, calls := failing(100, errTransient, 0)
				start := time.Now()
				_, err := job.Do(t.Context(), op, tt.opts...)
				if !errors.Is(err, job.ErrExhausted) {
					t.Errorf("Do() error = %v, want ErrExhausted", err)
				}
				if *calls != 10 {
					t.Errorf("Do() attempts = %d, want 10", *calls)
				}
				if e := jobError(t, err); e.Attempts != 10 {
					t.Errorf("Error.Attempts = %d, want 10", e.Attempts)
				}
				if got := time.Since(start); got > tt.maxTime {
					t.Errorf("Do() took %v, want at most %v", got, tt.maxTime)
				}
			})
		})
	}
}
