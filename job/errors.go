package job

import (
	"fmt"
	"strings"
	"time"

	"github.com/rebound-go/rebound/internal/core"
)

// The reasons a job gives up, found with errors.Is on the job's error. The
// job's own context ending is reported with the context's cause instead
// (context.Canceled, also for Future.Cancel; context.DeadlineExceeded).
var (
	// ErrExhausted: MaxAttempts used up, or the wait strategy ran out.
	ErrExhausted = core.ErrExhausted
	// ErrDeadline: MaxElapsed or the context's deadline reached, or the next
	// attempt would start after it, or a Retry-After hint above MaxWait.
	ErrDeadline = core.ErrDeadline
	// ErrPermanent: the error was marked Permanent, the operation panicked,
	// or RetryIf said no.
	ErrPermanent = core.ErrPermanent
	// ErrBudget: the scheduler's retry budget denied the retry. It is a
	// client-side limit: no retry was sent, the server said nothing.
	ErrBudget = core.ErrBudget
	// ErrClosed: the scheduler was shut down or closed before the job ended.
	ErrClosed = core.ErrClosed
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
func Permanent(err error) error { return core.Permanent(err) }

// RetryAfter marks err with a "not before d" hint, as from a 429 or 503
// answer's Retry-After header: the next attempt waits at least d (the
// jittered delay, if longer, wins). A negative d counts as 0. RetryAfter(nil,
// d) is nil. Any error in the chain with a RetryAfter() time.Duration method
// is honoured the same way.
func RetryAfter(err error, d time.Duration) error { return core.RetryAfter(err, d) }

func init() {
	core.MakeError = func(reason, last error, attempts int, elapsed time.Duration) error {
		return &Error{Reason: reason, Last: last, Attempts: attempts, Elapsed: elapsed}
	}
	core.MakePanic = func(v any, stack []byte) error { return &PanicError{Value: v, Stack: stack} }
	core.Inspect = inspect
	core.ApplyOption = func(o any, b *core.Builder) {
		if o, ok := o.(Option); ok && o != nil {
			o.apply(b)
		}
	}
}
