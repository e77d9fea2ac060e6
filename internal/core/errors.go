package core

import (
	"errors"
	"time"
)

// Sentinel reasons; package job re-exports them.
var (
	ErrExhausted = errors.New("job: attempts exhausted")
	ErrDeadline  = errors.New("job: deadline reached")
	ErrPermanent = errors.New("job: permanent error")
	ErrBudget    = errors.New("job: retry budget exhausted (client-side limit: no retry was sent)")
	ErrClosed    = errors.New("job: scheduler closed")
)

// errRejected is the Last error of a job whose final attempt returned a value
// that RetryOnResult rejected, with no error of its own.
var errRejected = errors.New("job: result rejected by RetryOnResult")

// Constructors for package job's public error types. Package job sets them in
// its init; everything that imports core through job sees them set.
var (
	// MakeError builds a *job.Error.
	MakeError func(reason, last error, attempts int, elapsed time.Duration) error
	// MakePanic builds a *job.PanicError from a recovered value and stack.
	MakePanic func(value any, stack []byte) error
)

// permanent marks an error as not retryable.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the job does not retry it. nil in, nil out.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// Permanent reports whether err is marked permanent anywhere in its chain.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

// hinted carries a Retry-After hint.
type hinted struct {
	err error
	d   time.Duration
}

func (h *hinted) Error() string             { return h.err.Error() }
func (h *hinted) Unwrap() error             { return h.err }
func (h *hinted) RetryAfter() time.Duration { return h.d }

// RetryAfter wraps err with a "not before d" hint. A nil err stays nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &hinted{err, d}
}

// Hint returns the first Retry-After hint in err's chain.
func Hint(err error) (time.Duration, bool) {
	var h interface{ RetryAfter() time.Duration }
	if err == nil || !errors.As(err, &h) {
		return 0, false
	}
	d := h.RetryAfter()
	if d < 0 {
		d = 0
	}
	return d, true
}
