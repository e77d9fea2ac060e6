package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

func TestWrapRetriesAndKeepsArgument(t *testing.T) {
	failures := map[string]int{"a.example": 1, "bb.example": 2, "down.example": 100}
	calls := map[string]int{}
	var wrongArgs []string
	var current string
	lookup := job.Wrap(func(ctx context.Context, host string) (int, error) {
		if host != current {
			wrongArgs = append(wrongArgs, host)
		}
		calls[host]++
		if calls[host] <= failures[host] {
			return 0, fmt.Errorf("lookup %s: %w", host, errTransient)
		}
		return len(host), nil
	}, job.MaxAttempts(3), job.Wait(wait.Constant(0)))

	tests := []struct {
		host         string
		want         int
		wantErr      error
		wantAttempts int
	}{
		{"a.example", 9, nil, 2},
		{"bb.example", 10, nil, 3},
		{"down.example", 0, job.ErrExhausted, 3},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			current = tt.host
			got, err := lookup(context.Background(), tt.host)
			if got != tt.want {
				t.Errorf("lookup(%q) = %d, want %d", tt.host, got, tt.want)
			}
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Errorf("lookup(%q) error = %v, want %v", tt.host, err, tt.wantErr)
			}
			if calls[tt.host] != tt.wantAttempts {
				t.Errorf("lookup(%q) attempts = %d, want %d", tt.host, calls[tt.host], tt.wantAttempts)
			}
		})
	}
	if len(wrongArgs) > 0 {
		t.Errorf("wrapped function called with %v, want the caller's argument", wrongArgs)
	}
}

// TestWrapConcurrentCalls: the retrying function may be called from many
// goroutines at once; each call has its own attempts (run with -race).
func TestWrapConcurrentCalls(t *testing.T) {
	var retries atomic.Int64
	double := job.Wrap(func(ctx context.Context, n int) (int, error) {
		if job.AttemptFrom(ctx) < 3 {
			return 0, errTransient
		}
		return 2 * n, nil
	}, job.Wait(wait.Constant(0)), job.OnRetry(func(job.Event) { retries.Add(1) }))

	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			got, err := double(context.Background(), i)
			if err == nil && got != 2*i {
				err = fmt.Errorf("double(%d) = %d, want %d", i, got, 2*i)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
	if got := retries.Load(); got != 2*callers {
		t.Errorf("OnRetry ran %d times, want %d", got, 2*callers)
	}
}

func TestWrapPanics(t *testing.T) {
	var nilCtx context.Context
	ok := job.Wrap(func(context.Context, int) (int, error) { return 0, nil })
	tests := []struct {
		name string
		call func()
	}{
		{"nil function", func() { job.Wrap[int, int](nil) }},
		{"nil context", func() { _, _ = ok(nilCtx, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, panicked := panicMessage(tt.call)
			if !panicked {
				t.Fatal("did not panic")
			}
			if !strings.HasPrefix(msg, "job: ") {
				t.Errorf("panic message %q, want prefix %q", msg, "job: ")
			}
		})
	}
}

// TestWrapRetryOnResultWrongTypePanics: the mismatch panics, at Wrap or at
// the latest on the first call, before fn runs.
func TestWrapRetryOnResultWrongTypePanics(t *testing.T) {
	calls := 0
	msg, panicked := panicMessage(func() {
		f := job.Wrap(func(context.Context, int) (string, error) {
			calls++
			return "", nil
		}, job.RetryOnResult(func(int) bool { return false }))
		_, _ = f(context.Background(), 1)
	})
	if !panicked {
		t.Fatal("Wrap of a string function with RetryOnResult[int] did not panic")
	}
	if !strings.Contains(msg, "RetryOnResult") {
		t.Errorf("panic message %q does not name RetryOnResult", msg)
	}
	if calls != 0 {
		t.Errorf("wrapped function called %d times, want 0", calls)
	}
}
