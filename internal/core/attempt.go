package core

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// attemptKey is the context key under which an attempt's number is stored.
type attemptKey struct{}

// closed is a closed channel, the Done of anything that ended before anyone
// asked for its channel.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// cancelCtxType is the dynamic type of the standard library's cancelable
// contexts; see AttemptCtx.Value.
var cancelCtxType = func() reflect.Type {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return reflect.TypeOf(c)
}()

// AttemptCtx is the context of one attempt: the job's context, plus the
// attempt's number, plus the attempt's own deadline and cancellation. Its
// Done channel is made only if someone asks for it, so an operation that never
// looks at ctx.Done costs no channel.
//
// It is safe for concurrent use once started.
type AttemptCtx struct {
	parent    context.Context
	n         int
	deadline  time.Time
	propagate bool

	mu    sync.Mutex
	done  chan struct{}
	err   error
	timer *clock.Timer
	stop  func() bool
}

// Start prepares c for attempt n under parent. A bounded attempt gets a
// deadline timeout from now, on a timer of clk. With propagate, c registers
// for parent's cancellation when its Done is first asked for (job.Do); an
// executor that cancels its running attempts itself passes false.
func (c *AttemptCtx) Start(parent context.Context, n int, timeout time.Duration, bounded bool, clk clock.Clock, propagate bool) {
	c.parent, c.n, c.propagate = parent, n, propagate
	if !bounded {
		return
	}
	if _, mock := clk.(*clock.Mock); !mock {
		// A mock clock's time must not reach real-time code (a net.Dialer
		// given a 1970 deadline fails at once): under a mock the attempt
		// reports no deadline of its own, and its timer still ends it.
		c.deadline = clk.Now().Add(timeout)
	}
	if timeout <= 0 {
		c.Cancel(context.DeadlineExceeded)
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.timer = clk.AfterFunc(timeout, func() { c.Cancel(context.DeadlineExceeded) })
	}
	c.mu.Unlock()
}

// Cancel ends c with err (the first call wins).
func (c *AttemptCtx) Cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closed
	} else {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

// End releases c once its attempt has returned: whatever still holds c sees
// it canceled.
func (c *AttemptCtx) End() { c.Cancel(context.Canceled) }

// Deadline implements context.Context: the earlier of the attempt's and the
// parent's deadline.
func (c *AttemptCtx) Deadline() (time.Time, bool) {
	pd, ok := c.parent.Deadline()
	if c.deadline.IsZero() || (ok && pd.Before(c.deadline)) {
		return pd, ok
	}
	return c.deadline, true
}

// Done implements context.Context.
func (c *AttemptCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.propagate && c.parent.Done() != nil {
			p := c.parent
			c.stop = context.AfterFunc(p, func() { c.Cancel(p.Err()) })
		}
	}
	return c.done
}

// Err implements context.Context.
func (c *AttemptCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err = c.parent.Err(); err != nil {
		c.Cancel(err)
		c.mu.Lock()
		err = c.err
		c.mu.Unlock()
	}
	return err
}

// Value implements context.Context. It answers the attempt number itself and
// delegates the rest to the parent. While c has ended by its own cause (its
// timeout, or the job's cancellation) and the parent is alive, it hides the
// parent's cancelation state, so that context.Cause(c) reports c's error
// rather than the parent's nil cause.
func (c *AttemptCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return c.n
	}
	v := c.parent.Value(key)
	if v != nil && reflect.TypeOf(v) == cancelCtxType {
		c.mu.Lock()
		own := c.err != nil
		c.mu.Unlock()
		if own && c.parent.Err() == nil {
			return nil
		}
	}
	return v
}

// marked is a context that only adds an attempt number to its parent: what
// job.Do passes to an attempt after the first when the attempt has no bound
// of its own (cheaper than an AttemptCtx, like context.WithValue).
type marked struct {
	context.Context
	n int
}

func (m *marked) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return m.n
	}
	return m.Context.Value(key)
}

// Mark returns ctx carrying attempt number n.
func Mark(ctx context.Context, n int) context.Context { return &marked{ctx, n} }

// Attempt returns the number of the attempt ctx belongs to; 1 when ctx
// carries none.
func Attempt(ctx context.Context) int {
	switch c := ctx.(type) {
	case *AttemptCtx:
		return c.n
	case *marked:
		return c.n
	case *firstCtx:
		return 1
	}
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// Marked reports whether ctx carries an attempt number (a job inside a job).
func Marked(ctx context.Context) bool {
	_, ok := ctx.Value(attemptKey{}).(int)
	return ok
}

// signal is a channel closed once, made only when someone waits on it.
type signal struct{ c chan struct{} }

// fired is the signal of anything that has happened already.
var fired = &signal{closed}

// waitOn returns the channel of the signal in p, making it if needed.
func waitOn(p *atomic.Pointer[signal]) <-chan struct{} {
	if s := p.Load(); s != nil {
		return s.c
	}
	s := &signal{make(chan struct{})}
	if p.CompareAndSwap(nil, s) {
		return s.c
	}
	return p.Load().c
}

// fire fires the signal in p (once; later calls do nothing).
func fire(p *atomic.Pointer[signal]) {
	if old := p.Swap(fired); old != nil && old != fired {
		close(old.c)
	}
}

// firstCtx is a task's first-attempt context: the job's context plus the
// attempt number 1 and a cancellation of its own (the executor cancels it
// when the job is canceled or the attempt ends). It is embedded in the Task.
type firstCtx struct {
	t    *Task
	done atomic.Pointer[signal]
	err  atomic.Uint32 // 0: alive; 1: Canceled; 2: DeadlineExceeded
}

func (c *firstCtx) cancel(err error) {
	code := uint32(1)
	if err == context.DeadlineExceeded {
		code = 2
	}
	if c.err.CompareAndSwap(0, code) {
		fire(&c.done)
	}
}

// Deadline implements context.Context.
func (c *firstCtx) Deadline() (time.Time, bool) { return c.t.Ctx.Deadline() }

// Done implements context.Context.
func (c *firstCtx) Done() <-chan struct{} {
	if c.err.Load() == 0 && c.t.Ctx.Err() != nil {
		c.cancel(c.t.Ctx.Err())
	}
	return waitOn(&c.done)
}

// Err implements context.Context.
func (c *firstCtx) Err() error {
	if c.err.Load() == 0 {
		if err := c.t.Ctx.Err(); err != nil {
			c.cancel(err)
		}
	}
	switch c.err.Load() {
	case 1:
		return context.Canceled
	case 2:
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context; see AttemptCtx.Value.
func (c *firstCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return 1
	}
	v := c.t.Ctx.Value(key)
	if v != nil && reflect.TypeOf(v) == cancelCtxType && c.err.Load() != 0 && c.t.Ctx.Err() == nil {
		return nil
	}
	return v
}
