package core

import (
	"errors"
	"fmt"
	"runtime/debug"
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

// IsPermanent reports whether err is marked permanent anywhere in its tree.
func IsPermanent(err error) bool {
	return walk(err, func(e error) bool {
		_, ok := e.(*permanent)
		return ok
	}) != nil
}

// walk returns the first error in err's tree (depth first, as errors.As
// walks it) for which match is true, or nil. Unlike errors.As it needs no
// escaping target, so it does not allocate.
func walk(err error, match func(error) bool) error {
	for err != nil {
		if match(err) {
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if found := walk(e, match); found != nil {
					return found
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
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
	found := walk(err, func(e error) bool {
		_, ok := e.(interface{ RetryAfter() time.Duration })
		return ok
	})
	if found == nil {
		return 0, false
	}
	return max(found.(interface{ RetryAfter() time.Duration }).RetryAfter(), 0), true
}

// Class is what an attempt's error says of itself: its Retry-After hint and
// whether it is marked permanent. Bad is non-nil when one of the error's own
// methods (RetryAfter, Unwrap) panicked while it was read: the job must then
// end as permanent, with Bad as its last error.
type Class struct {
	Hint      time.Duration // -1: no hint
	Permanent bool
	Bad       error
}

// NoClass is the class of a nil error.
var NoClass = Class{Hint: -1}

// Classify reads err's hint and permanence. A panic in a method of err is
// recovered into c.Bad (a permanent *job.PanicError that does not wrap err,
// so that nothing walks into the broken error again).
func Classify(err error) (c Class) {
	c = NoClass
	if err == nil {
		return c
	}
	defer func() {
		if v := recover(); v != nil {
			c = Class{Hint: -1, Permanent: true, Bad: fmt.Errorf("job: a method of the attempt's error panicked: %w", MakePanic(v, debug.Stack()))}
		}
	}()
	if d, ok := Hint(err); ok {
		c.Hint = d
	}
	c.Permanent = IsPermanent(err)
	return c
}
