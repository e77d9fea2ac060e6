package job

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// attemptKey is the context key under which an attempt's number is stored.
type attemptKey struct{}

// AttemptFrom returns the number of the attempt whose context ctx is (or
// derives from), 1-based: use it for idempotency keys and logs. It returns 1
// for a context that carries no attempt number.
func AttemptFrom(ctx context.Context) int {
	if a, ok := ctx.(*Attempt); ok {
		return a.n
	}
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// marked reports whether ctx carries an attempt number (a job inside a job).
func marked(ctx context.Context) bool {
	_, ok := ctx.Value(attemptKey{}).(int)
	return ok
}

// Attempt is the context of one attempt, for an executor that must be able
// to end a running attempt from another goroutine (package scheduler cancels
// running attempts on Future.Cancel and at shutdown). Call starts it; Cancel
// ends it early. It is safe for concurrent use. The zero value is ready for
// Call; an Attempt serves one attempt only (a context, once ended, stays
// ended).
//
// An Attempt is built on the standard library's contexts: a context the
// operation derives from it (context.WithTimeout, net/http's per-request
// contexts) registers with it directly and starts no goroutine, and
// context.Cause reports why it ended. The standard context behind it is made
// only when the operation asks for Done or a value, so an operation that
// never looks at its context costs none.
//
// Under a *clock.Mock an attempt with a timeout reports no deadline of its
// own (a mock time must not reach real-time code: a net.Dialer given a 1970
// deadline fails at once); the mock's timer still ends it, with Err
// context.DeadlineExceeded (contexts derived from it see context.Canceled,
// with context.DeadlineExceeded as their cause).
type Attempt struct {
	parent context.Context
	n      int
	state  atomic.Uint32 // 0: alive; else why it ended (see errOf)
	// registered: AfterFunc or AfterCancel has been called (then ending a
	// takes mu to run their registrations).
	registered atomic.Bool
	std        atomic.Pointer[stdCtx]

	mu         sync.Mutex
	after      *afterFunc  // AfterFunc's and AfterCancel's registrations, while a is alive
	stopParent func() bool // ends the watch of an ending parent for AfterFunc; nil: none
}

// afterFunc is one registration of Attempt.AfterFunc or AfterCancel.
type afterFunc struct {
	a    *Attempt
	f    func()
	next *afterFunc
	done bool // f has run or been stopped; guarded by a.mu
}

// stdCtx is the standard context behind an Attempt.
type stdCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *clock.Timer // a mock clock's timeout
}

const (
	alive uint32 = iota
	canceled
	deadlineExceeded
)

func errOf(s uint32) error {
	if s == deadlineExceeded {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

func codeOf(err error) uint32 {
	if err == context.DeadlineExceeded {
		return deadlineExceeded
	}
	return canceled
}

// start prepares a for attempt n under parent, bounded by timeout when
// bounded. Called before the operation runs; Cancel may have come first.
func (a *Attempt) start(parent context.Context, n int, timeout time.Duration, bounded bool, clk clock.Clock) {
	a.parent, a.n = parent, n
	if !bounded {
		return
	}
	if timeout <= 0 {
		a.Cancel(context.DeadlineExceeded)
		return
	}
	if mock, ok := clk.(*clock.Mock); ok {
		c, cancel := context.WithCancel(parent)
		s := &stdCtx{ctx: c, cancel: cancel}
		s.timer = mock.AfterFunc(timeout, func() { a.Cancel(context.DeadlineExceeded) })
		a.install(s)
		return
	}
	// A real clock (synctest's fake time included): the standard library's
	// timer context, whose Err is DeadlineExceeded for it and its children.
	c, cancel := context.WithTimeout(parent, timeout)
	a.install(&stdCtx{ctx: c, cancel: cancel})
}

// materialize returns the standard context behind a, making it if needed.
func (a *Attempt) materialize() context.Context {
	if s := a.std.Load(); s != nil {
		return s.ctx
	}
	c, cancel := context.WithCancel(a.parent)
	return a.install(&stdCtx{ctx: c, cancel: cancel})
}

// install makes s the standard context behind a unless another won the race;
// it returns the one in place, canceled if a has ended.
func (a *Attempt) install(s *stdCtx) context.Context {
	if !a.std.CompareAndSwap(nil, s) {
		s.cancel()
		if s.timer != nil {
			s.timer.Stop()
		}
		return a.std.Load().ctx
	}
	if a.state.Load() != alive {
		s.cancel()
	}
	return s.ctx
}

// Cancel ends the attempt's context with err: context.DeadlineExceeded, or
// anything else for context.Canceled. The first call wins; later ones do
// nothing. It does not wait for the operation to return.
func (a *Attempt) Cancel(err error) {
	if a.state.CompareAndSwap(alive, codeOf(err)) {
		a.ended()
	}
}

// ended ends a's standard context and runs its registrations, once a's
// state has left alive, and returns the stop of the parent's watch (nil:
// none). An attempt that never had a registration takes no lock.
func (a *Attempt) ended() (stopParent func() bool) {
	if s := a.std.Load(); s != nil {
		s.cancel()
	}
	if !a.registered.Load() {
		// No register has passed its check of the state: any later one
		// sees a ended (it checks after setting registered).
		return nil
	}
	a.mu.Lock()
	list := a.after
	a.after = nil
	for r := list; r != nil; r = r.next {
		if !r.done {
			r.done = true
			go r.f()
		}
	}
	stopParent = a.stopParent
	a.mu.Unlock()
	return stopParent
}

// AfterFunc arranges to call f in its own goroutine once the attempt's
// context has ended, as context.AfterFunc(a, f) does, and returns a stop
// function with the same contract (true: the call to f was stopped). It is
// cheaper than context.AfterFunc(a, f): it does not make the standard
// context behind the attempt (see Attempt).
func (a *Attempt) AfterFunc(f func()) (stop func() bool) { return a.register(f, true) }

// AfterCancel is AfterFunc for an f that ends something derived from the
// attempt's parent already: f runs once the attempt is canceled (Cancel,
// its timeout, its return from Call), but the end of the parent alone need
// not run it, as the derived thing ends with its parent by itself. It
// spares AfterFunc's watch of a parent that can end (a context.AfterFunc
// on it). An operation that hands work past its attempt uses it: package
// httpretry's request contexts derive from the request's own context, and
// the attempt's end cancels them until the response is handed out.
func (a *Attempt) AfterCancel(f func()) (stop func() bool) { return a.register(f, false) }

// register is AfterFunc (watchParent) and AfterCancel.
func (a *Attempt) register(f func(), watchParent bool) (stop func() bool) {
	if s := a.std.Load(); s != nil {
		// A standard context is in place (perhaps a timeout's, which ends
		// on its own): it ends whenever a does.
		return context.AfterFunc(s.ctx, f)
	}
	// Without one, a ends only by Cancel (its own end included) or by
	// the end of its parent, which AfterFunc watches once for all its
	// registrations.
	r := &afterFunc{a: a, f: f}
	a.registered.Store(true) // before the check of the state (see ended)
	a.mu.Lock()
	if a.state.Load() != alive {
		r.done = true
		a.mu.Unlock()
		go f()
		return r.stop
	}
	r.next = a.after
	a.after = r
	if watchParent && a.stopParent == nil && a.parent != nil && a.parent.Done() != nil {
		// (Under a.mu: context.AfterFunc never calls back synchronously.)
		a.stopParent = context.AfterFunc(a.parent, func() { a.Cancel(a.parent.Err()) })
	}
	a.mu.Unlock()
	return r.stop
}

// stop is the stop function of an AfterFunc registration.
func (r *afterFunc) stop() bool {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	if r.done {
		return false
	}
	r.done = true
	return true
}

// end releases a once its attempt has returned.
func (a *Attempt) end() {
	var stop func() bool
	if a.state.CompareAndSwap(alive, canceled) {
		stop = a.ended()
	} else if a.registered.Load() {
		a.mu.Lock() // canceled before: its watch of the parent may remain
		stop = a.stopParent
		a.mu.Unlock()
	}
	if stop != nil {
		stop()
	}
	if s := a.std.Load(); s != nil {
		s.cancel() // a timer context ended by its own deadline: release it
		if s.timer != nil {
			s.timer.Stop()
		}
	}
}

// Deadline implements context.Context.
func (a *Attempt) Deadline() (time.Time, bool) {
	if s := a.std.Load(); s != nil {
		return s.ctx.Deadline()
	}
	return a.parent.Deadline()
}

// Done implements context.Context.
func (a *Attempt) Done() <-chan struct{} { return a.materialize().Done() }

// Err implements context.Context.
func (a *Attempt) Err() error {
	if s := a.state.Load(); s != alive {
		return errOf(s)
	}
	if s := a.std.Load(); s != nil {
		return s.ctx.Err()
	}
	return a.parent.Err()
}

// Value implements context.Context: the attempt number for AttemptFrom, and
// the parent's values. Once the attempt has ended it answers from the
// standard context behind it, so that context.Cause(a) reports a's own end.
func (a *Attempt) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return a.n
	}
	if a.std.Load() != nil || a.state.Load() != alive {
		return a.materialize().Value(key)
	}
	return a.parent.Value(key)
}

// DetachedValue returns the value for key that a context derived from a's
// parent and carrying a's values sees: the attempt number for AttemptFrom,
// and the parent's values. Unlike Value it never reads the standard
// context behind a (which, once a has ended, answers for context.Cause(a)
// and must then be made), so a context that outlives the attempt can carry
// its values at no cost: package httpretry's request contexts, whose
// response bodies are read after their attempt has returned.
func (a *Attempt) DetachedValue(key any) any {
	if _, ok := key.(attemptKey); ok {
		return a.n
	}
	return a.parent.Value(key)
}

// Op is an operation as Call runs it. A function converts to one with
// OpFunc, without allocating.
type Op[T any] interface {
	Run(context.Context) (T, error)
}

// OpFunc adapts a function to an Op.
type OpFunc[T any] func(context.Context) (T, error)

// Run calls f.
func (f OpFunc[T]) Run(ctx context.Context) (T, error) { return f(ctx) }

// Call runs the attempt r has just begun (Begin): it gives op the attempt's
// context, recovers a panic into a permanent *PanicError, applies the
// policy's RetryOnResult, and reads the error's Retry-After hint and
// permanence (a panic in the error's own methods is recovered too). It is
// the one attempt runner of Do, package scheduler and any other executor.
//
// The attempt's context derives from ctx, the job's context: with a (the
// executor's, to cancel from another goroutine) it is a; with a nil a it is
// ctx itself for an unbounded first attempt, ctx carrying the attempt
// number for a later one, and a new Attempt when the attempt is bounded (the
// policy's AttemptTimeout or the job's deadline). Call ends the attempt's
// context before it returns.
func Call[T any](ctx context.Context, r *Run, a *Attempt, op Op[T]) (T, Outcome) {
	n := r.attempts
	timeout, bounded := r.AttemptTimeout()
	if bounded && r.boundedByCtx(ctx) {
		bounded = false // ctx's deadline ends it
	}
	actx := ctx
	switch {
	case a != nil || bounded:
		if a == nil {
			a = new(Attempt)
		}
		a.start(ctx, n, timeout, bounded, r.env.clock())
		actx = a
	case n > 1 || marked(ctx):
		actx = context.WithValue(ctx, attemptKey{}, n)
	}
	v, o := invoke(actx, op, r.policy)
	if a != nil {
		a.end()
	}
	return v, o
}

// invoke runs op once with ctx: the heart of Call, and Do's fast path.
func invoke[T any](ctx context.Context, op Op[T], p *Policy) (v T, o Outcome) {
	defer func() {
		if x := recover(); x != nil {
			var zero T
			v, o = zero, Outcome{Err: Permanent(&PanicError{Value: x, Stack: debug.Stack()}), Hint: -1, perm: true}
		}
	}()
	v, err := op.Run(ctx)
	if err != nil {
		return v, classified(err)
	}
	o.Hint = -1
	if p.result != nil {
		o.Rejected = p.result.(func(T) bool)(v)
	}
	return v, o
}
