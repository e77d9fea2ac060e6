package job

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// The reasons a job gives up, found with errors.Is on the job's error. The
// job's own context ending is reported with the context's cause instead
// (context.Canceled, also for Future.Cancel; context.DeadlineExceeded).
var (
	// ErrExhausted: MaxAttempts used up, or the wait strategy ran out.
	ErrExhausted = errors.New("job: attempts exhausted")
	// ErrDeadline: MaxElapsed or the context's deadline reached, or the next
	// attempt would start after it, or a Retry-After hint above MaxWait.
	ErrDeadline = errors.New("job: deadline reached")
	// ErrPermanent: the error was marked Permanent, the operation panicked,
	// or RetryIf said no.
	ErrPermanent = errors.New("job: permanent error")
	// ErrBudget: the scheduler's retry budget denied the retry. It is a
	// client-side limit: no retry was sent, the server said nothing.
	ErrBudget = errors.New("job: retry budget exhausted (client-side limit: no retry was sent)")
	// ErrClosed: the scheduler was shut down or closed before the job ended.
	ErrClosed = errors.New("job: scheduler closed")
)

// Error is the error of a job that did not succeed. Unwrap returns Reason and
// Last, so errors.Is(err, ErrExhausted) and errors.Is(err, io.EOF) both work.
type Error struct {
	Reason   error         // one of the Err* sentinels, or the job context's cause
	Last     error         // the last attempt's error; nil if no attempt ran
	Attempts int           // attempts started
	Elapsed  time.Duration // since the start (see the package doc for when the clock is first read)
}

// Error formats as "reason after N attempts (elapsed): last error".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason.Error())
	fmt.Fprintf(&b, " after %d attempt", e.Attempts)
	if e.Attempts != 1 {
		b.WriteByte('s')
	}
	if e.Elapsed > 0 {
		fmt.Fprintf(&b, " in %v", e.Elapsed)
	}
	if e.Last != nil {
		b.WriteString(": ")
		b.WriteString(e.Last.Error())
	}
	return b.String()
}

// Unwrap returns Reason and, when there was one, Last.
func (e *Error) Unwrap() []error {
	if e.Last == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Last}
}

// PanicError is the error of an operation that panicked: permanent, with the
// panic's value and the goroutine's stack at the panic.
type PanicError struct {
	Value any
	Stack []byte
}

// Error formats as "job: panic: value".
func (e *PanicError) Error() string { return fmt.Sprintf("job: panic: %v", e.Value) }

// Unwrap returns Value when it is an error (panic(err)).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Permanent marks err as not to be retried: the job gives up at once with
// ErrPermanent, and Last is err. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// permanent marks an error as not retryable.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// RetryAfter marks err with a "not before d" hint, as from a 429 or 503
// answer's Retry-After header: the next attempt waits at least d (the
// jittered delay, if longer, wins). A negative d counts as 0. RetryAfter(nil,
// d) is nil. Any error in the chain with a RetryAfter() time.Duration method
// is honoured the same way.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &hinted{err, max(d, 0)}
}

// hinted carries a Retry-After hint.
type hinted struct {
	err error
	d   time.Duration
}

func (h *hinted) Error() string             { return h.err.Error() }
func (h *hinted) Unwrap() error             { return h.err }
func (h *hinted) RetryAfter() time.Duration { return h.d }

// Throttled marks err as a throttle: the server said the client sends too
// fast (an HTTP 429, a 503 with Retry-After, a "SlowDown" code). A
// scheduler's adaptive key rates slow the key down on a throttle (see
// scheduler.WithAdaptiveKeyRate); an error with a Retry-After hint counts as
// a throttle without the mark. Throttled does not change whether the error
// is retried. Throttled(nil) is nil.
func Throttled(err error) error {
	if err == nil {
		return nil
	}
	return &throttled{err}
}

// throttled marks a throttle.
type throttled struct{ err error }

func (t *throttled) Error() string { return t.err.Error() }
func (t *throttled) Unwrap() error { return t.err }

func isThrottled(e error) bool { _, ok := e.(*throttled); return ok }

// errRejected is the Last error of a job whose final attempt returned a value
// that RetryOnResult rejected, with no error of its own.
var errRejected = errors.New("job: result rejected by RetryOnResult")

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

func isPermanent(e error) bool { _, ok := e.(*permanent); return ok }

func hasHint(e error) bool {
	_, ok := e.(interface{ RetryAfter() time.Duration })
	return ok
}

// classify reads what err says of itself: its Retry-After hint (-1: none),
// whether it is marked permanent, and whether it is a throttle (a hint, or
// the Throttled mark). A panic in one of err's own methods
// (RetryAfter, Unwrap) is recovered into bad, a permanent *PanicError that
// does not wrap err, so that nothing walks into the broken error again.
func classify(err error) (hint time.Duration, perm, thr bool, bad error) {
	hint = -1
	if err == nil {
		return hint, false, false, nil
	}
	defer func() {
		if v := recover(); v != nil {
			hint, perm, thr = -1, true, false
			bad = fmt.Errorf("job: a method of the attempt's error panicked: %w", &PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	if h := walk(err, hasHint); h != nil {
		hint = max(h.(interface{ RetryAfter() time.Duration }).RetryAfter(), 0)
	}
	return hint, walk(err, isPermanent) != nil, hint >= 0 || walk(err, isThrottled) != nil, nil
}
