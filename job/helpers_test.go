package job_test

// The helpers shared by the test files of the package.

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rebound-go/rebound/job"
)

// errTransient is the ordinary, retryable failure of the tests' operations.
var errTransient = errors.New("transient")

// failing returns an operation that fails with err on its first n calls and
// returns v after that, and a pointer to its number of calls. The count is
// not synchronised: read it on the goroutine that ran Do, or after Do has
// returned to it.
func failing[T any](n int, err error, v T) (op func(context.Context) (T, error), calls *int) {
	calls = new(int)
	return func(context.Context) (T, error) {
		*calls++
		if *calls <= n {
			var zero T
			return zero, err
		}
		return v, nil
	}, calls
}

// jobError returns err as a *job.Error, failing the test if it is not one.
func jobError(t *testing.T, err error) *job.Error {
	t.Helper()
	var e *job.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *job.Error", err, err)
	}
	return e
}

// panicMessage runs f and returns the value it panicked with, formatted.
func panicMessage(f func()) (msg string, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			msg, panicked = fmt.Sprint(v), true
		}
	}()
	f()
	return "", false
}
