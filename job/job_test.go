package job_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *job.Error
		want string
	}{
		{
			name: "exhausted",
			err:  &job.Error{Reason: job.ErrExhausted, Last: io.EOF, Attempts: 3, Elapsed: 2 * time.Second},
			want: "job: attempts exhausted after 3 attempts in 2s: EOF",
		},
		{
			name: "one attempt, no elapsed time",
			err:  &job.Error{Reason: job.ErrPermanent, Last: errors.New("400 Bad Request"), Attempts: 1},
			want: "job: permanent error after 1 attempt: 400 Bad Request",
		},
		{
			name: "no attempt",
			err:  &job.Error{Reason: context.Canceled, Attempts: 0},
			want: "context canceled after 0 attempts",
		},
		{
			name: "deadline",
			err:  &job.Error{Reason: job.ErrDeadline, Last: errTransient, Attempts: 2, Elapsed: 1500 * time.Millisecond},
			want: "job: deadline reached after 2 attempts in 1.5s: transient",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorTextFromDo checks the text of an error Do returns (synctest: no
// time passes, so no elapsed time is printed).
func TestErrorTextFromDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op, _ := failing(5, errTransient, 0)
		_, err := job.Do(t.Context(), op, job.MaxAttempts(3), job.Wait(wait.Constant(0)))
		const want = "job: attempts exhausted after 3 attempts: transient"
		if err == nil || err.Error() != want {
			t.Errorf("Do() error = %v, want %q", err, want)
		}
	})
}

func TestErrorUnwrap(t *testing.T) {
	tests := []struct {
		name string
		err  *job.Error
		want []error
	}{
		{"reason and last", &job.Error{Reason: job.ErrExhausted, Last: io.EOF, Attempts: 2}, []error{job.ErrExhausted, io.EOF}},
		{"no last", &job.Error{Reason: context.Canceled}, []error{context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Unwrap(); !slices.Equal(got, tt.want) {
				t.Errorf("Unwrap() = %v, want %v", got, tt.want)
			}
			for _, target := range tt.want {
				if !errors.Is(tt.err, target) {
					t.Errorf("errors.Is(%v, %v) = false, want true", tt.err, target)
				}
			}
			if errors.Is(tt.err, job.ErrDeadline) {
				t.Errorf("errors.Is(%v, ErrDeadline) = true, want false", tt.err)
			}
		})
	}
}

func TestPanicError(t *testing.T) {
	sentinel := errors.New("bad state")
	tests := []struct {
		name       string
		value      any
		wantText   string
		wantUnwrap error
	}{
		{"string", "boom", "job: panic: boom", nil},
		{"error", sentinel, "job: panic: bad state", sentinel},
		{"int", 42, "job: panic: 42", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &job.PanicError{Value: tt.value}
			if got := e.Error(); got != tt.wantText {
				t.Errorf("Error() = %q, want %q", got, tt.wantText)
			}
			if got := e.Unwrap(); got != tt.wantUnwrap {
				t.Errorf("Unwrap() = %v, want %v", got, tt.wantUnwrap)
			}
		})
	}
}

func TestSentinels(t *testing.T) {
	sentinels := map[string]error{
		"ErrExhausted": job.ErrExhausted,
		"ErrDeadline":  job.ErrDeadline,
		"ErrPermanent": job.ErrPermanent,
		"ErrBudget":    job.ErrBudget,
		"ErrClosed":    job.ErrClosed,
	}
	seen := map[error]string{}
	for name, err := range sentinels {
		if !strings.HasPrefix(err.Error(), "job: ") {
			t.Errorf("%s.Error() = %q, want prefix %q", name, err.Error(), "job: ")
		}
		if other, dup := seen[err]; dup {
			t.Errorf("%s and %s are the same error", name, other)
		}
		seen[err] = name
	}
	if !strings.Contains(job.ErrBudget.Error(), "client-side") {
		t.Errorf("ErrBudget.Error() = %q, want it to say the limit is client-side", job.ErrBudget.Error())
	}
}

func TestPermanentNil(t *testing.T) {
	if err := job.Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
}

func TestRetryAfterNil(t *testing.T) {
	if err := job.RetryAfter(nil, time.Second); err != nil {
		t.Errorf("RetryAfter(nil, 1s) = %v, want nil", err)
	}
}

func TestSteeringErrorsKeepTheError(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"Permanent", job.Permanent(io.EOF)},
		{"RetryAfter", job.RetryAfter(io.EOF, time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, io.EOF) {
				t.Errorf("errors.Is(%s(EOF), EOF) = false, want true", tt.name)
			}
			if got := tt.err.Error(); got != "EOF" {
				t.Errorf("%s(EOF).Error() = %q, want %q", tt.name, got, "EOF")
			}
		})
	}
}
