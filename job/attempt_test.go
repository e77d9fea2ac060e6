package job_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/job"
)

// runAttempt runs one attempt of op through the stepping API with an
// executor-owned Attempt, as a scheduler does.
func runAttempt(ctx context.Context, p *job.Policy, env *job.Env, a *job.Attempt, op func(context.Context) (int, error)) (int, job.Outcome) {
	var r job.Run
	r.Start(ctx, p, "", env)
	r.Begin()
	return job.Call(ctx, &r, a, job.OpFunc[int](op))
}

// A context derived inside an attempt (context.WithTimeout, as net/http
// derives one per request) registers with the attempt's context and starts
// no goroutine: the attempt's context is built on the standard library's.
func TestDerivedContextStartsNoGoroutine(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	cases := []struct {
		name string
		p    *job.Policy
		a    *job.Attempt
	}{
		{"executor's attempt, unbounded", job.NewPolicy(), new(job.Attempt)},
		{"executor's attempt, AttemptTimeout", job.NewPolicy(job.AttemptTimeout(time.Hour)), new(job.Attempt)},
		{"Call's own attempt, MaxElapsed", job.NewPolicy(job.MaxElapsed(time.Hour)), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, during int
			_, o := runAttempt(parent, tc.p, &job.Env{}, tc.a, func(ctx context.Context) (int, error) {
				before = runtime.NumGoroutine()
				c, cancel := context.WithTimeout(ctx, time.Hour)
				defer cancel()
				during = runtime.NumGoroutine()
				if job.AttemptFrom(c) != 1 {
					t.Errorf("AttemptFrom(derived) = %d, want 1", job.AttemptFrom(c))
				}
				return 0, nil
			})
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if during != before {
				t.Errorf("goroutines %d -> %d while a derived context was alive, want no new one", before, during)
			}
		})
	}
}

// Canceling an executor's Attempt reaches a context derived from it, and
// context.Cause reports the attempt's own end while its parent lives on.
func TestAttemptCancelReachesDerived(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := new(job.Attempt)
	derived := make(chan context.Context)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runAttempt(parent, job.NewPolicy(), &job.Env{}, a, func(ctx context.Context) (int, error) {
			c, stop := context.WithCancel(ctx)
			defer stop()
			derived <- c
			<-c.Done()
			return 0, c.Err()
		})
	}()
	c := <-derived
	a.Cancel(context.Canceled)
	<-done
	if c.Err() != context.Canceled || a.Err() != context.Canceled {
		t.Errorf("derived Err %v, attempt Err %v; want Canceled both", c.Err(), a.Err())
	}
	if cause := context.Cause(a); cause != context.Canceled {
		t.Errorf("Cause(attempt) = %v, want Canceled (its own end)", cause)
	}
	if parent.Err() != nil {
		t.Error("canceling the attempt canceled its parent")
	}
}

// An Attempt canceled before its operation starts gives the operation an
// ended context.
func TestAttemptCanceledBeforeStart(t *testing.T) {
	a := new(job.Attempt)
	a.Cancel(context.DeadlineExceeded)
	var seen error
	runAttempt(context.Background(), job.NewPolicy(), &job.Env{}, a, func(ctx context.Context) (int, error) {
		seen = ctx.Err()
		select {
		case <-ctx.Done():
		default:
			t.Error("Done not closed")
		}
		return 0, nil
	})
	if seen != context.DeadlineExceeded {
		t.Errorf("Err = %v, want DeadlineExceeded", seen)
	}
}

// With a real clock (synctest's fake time) an AttemptTimeout is the attempt's
// deadline: Deadline reports it and Err is DeadlineExceeded for the attempt
// and its children.
func TestAttemptTimeoutRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var dl time.Time
		var ok bool
		var childErr error
		_, o := runAttempt(context.Background(), job.NewPolicy(job.AttemptTimeout(time.Second)), &job.Env{}, nil, func(ctx context.Context) (int, error) {
			dl, ok = ctx.Deadline()
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			<-c.Done()
			childErr = c.Err()
			return 0, ctx.Err()
		})
		if !ok || !dl.Equal(start.Add(time.Second)) {
			t.Errorf("Deadline = %v, %v; want start+1s", dl, ok)
		}
		if !errors.Is(o.Err, context.DeadlineExceeded) || childErr != context.DeadlineExceeded {
			t.Errorf("attempt err %v, child err %v; want DeadlineExceeded both", o.Err, childErr)
		}
		if time.Since(start) != time.Second {
			t.Errorf("attempt ended after %v, want 1s", time.Since(start))
		}
	})
}

// Under a mock clock an attempt reports no deadline of its own (a mock time
// must not reach real-time code) and the mock's timer still ends it.
func TestAttemptTimeoutMockClock(t *testing.T) {
	mock := clock.NewMock()
	env := &job.Env{Clock: mock, Epoch: mock.Now()}
	started := make(chan context.Context)
	done := make(chan error)
	go func() {
		_, o := runAttempt(context.Background(), job.NewPolicy(job.AttemptTimeout(time.Second)), env, nil, func(ctx context.Context) (int, error) {
			started <- ctx
			<-ctx.Done()
			return 0, ctx.Err()
		})
		done <- o.Err
	}()
	ctx := <-started
	if dl, ok := ctx.Deadline(); ok {
		t.Errorf("Deadline = %v, true; want none under a mock clock", dl)
	}
	mock.Add(time.Second)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("attempt err = %v, want DeadlineExceeded", err)
	}
	if n := job.AttemptFrom(ctx); n != 1 {
		t.Errorf("AttemptFrom = %d, want 1", n)
	}
}

// Call recovers a panic into a permanent *PanicError and reads an error's
// hint; a panic in the error's own RetryAfter method is contained.
func TestCallOutcome(t *testing.T) {
	var r job.Run
	r.Start(context.Background(), job.NewPolicy(), "k", &job.Env{})
	r.Begin()
	_, o := job.Call(context.Background(), &r, nil, job.OpFunc[int](func(context.Context) (int, error) { panic("boom") }))
	var pe *job.PanicError
	if !errors.As(o.Err, &pe) || pe.Value != "boom" {
		t.Errorf("Err = %v, want a *PanicError of boom", o.Err)
	}
	if d := r.Judge(o, nil); d.Retry || d.Reason != job.ErrPermanent {
		t.Errorf("Judge(panic) = %+v, want give up with ErrPermanent", d)
	}
	o = job.OutcomeOf(job.RetryAfter(errors.New("slow down"), 3*time.Second))
	if o.Hint != 3*time.Second {
		t.Errorf("Hint = %v, want 3s", o.Hint)
	}
	if o = job.OutcomeOf(errors.New("plain")); o.Hint != -1 {
		t.Errorf("Hint of a plain error = %v, want -1", o.Hint)
	}
}

// Attempt.AfterFunc calls f once the attempt has ended, whatever ended it,
// unless stopped first, like context.AfterFunc; AfterCancel does too, for
// every end but its parent's (see TestAttemptAfterCancelParentEnds).
func TestAttemptAfterFunc(t *testing.T) {
	methods := []struct {
		name     string
		register func(a *job.Attempt, f func()) (stop func() bool)
	}{
		{"AfterFunc", (*job.Attempt).AfterFunc},
		{"AfterCancel", (*job.Attempt).AfterCancel},
	}
	cases := []struct {
		name      string
		p         *job.Policy
		end       func(a *job.Attempt, cancelParent context.CancelFunc) // ends the running attempt; nil: it returns
		afterFunc bool                                                  // AfterFunc's case only
	}{
		{"canceled", job.NewPolicy(), func(a *job.Attempt, _ context.CancelFunc) { a.Cancel(context.Canceled) }, false},
		{"parent ends", job.NewPolicy(), func(_ *job.Attempt, cancel context.CancelFunc) { cancel() }, true},
		{"timeout", job.NewPolicy(job.AttemptTimeout(time.Second)), func(*job.Attempt, context.CancelFunc) {}, false},
		{"returns", job.NewPolicy(), nil, false},
	}
	for _, m := range methods {
		for _, tc := range cases {
			if tc.afterFunc && m.name != "AfterFunc" {
				continue
			}
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					parent, cancel := context.WithCancel(context.Background())
					defer cancel()
					a := new(job.Attempt)
					ran, stoppedRan := make(chan struct{}), false
					var stopLater func() bool
					runAttempt(parent, tc.p, &job.Env{}, a, func(ctx context.Context) (int, error) {
						stop := m.register(a, func() { stoppedRan = true })
						if !stop() {
							t.Error("stop before the end = false, want true")
						}
						stopLater = m.register(a, func() { close(ran) })
						if tc.end == nil {
							return 0, nil
						}
						tc.end(a, cancel)
						<-ctx.Done()
						return 0, ctx.Err()
					})
					select {
					case <-ran:
					case <-time.After(time.Minute):
						t.Fatal("f did not run after the attempt ended")
					}
					if stopLater() {
						t.Error("stop after f ran = true, want false")
					}
					synctest.Wait()
					if stoppedRan {
						t.Error("a stopped f ran")
					}
				})
			})
		}
	}
}

// Attempt.AfterCancel does not call f at the end of the attempt's parent
// alone (what f ends derives from the parent and ends with it by itself),
// and starts no watch of the parent; the attempt's return calls it.
func TestAttemptAfterCancelParentEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		a := new(job.Attempt)
		ran := make(chan struct{})
		before := runtime.NumGoroutine()
		runAttempt(parent, job.NewPolicy(), &job.Env{}, a, func(ctx context.Context) (int, error) {
			a.AfterCancel(func() { close(ran) })
			cancel()
			synctest.Wait()
			select {
			case <-ran:
				t.Error("f ran at the parent's end, before the attempt returned")
			default:
			}
			if n := runtime.NumGoroutine() - before; n != 0 {
				t.Errorf("%d goroutines during the attempt, want 0", n)
			}
			return 0, ctx.Err()
		})
		<-ran // the attempt's return calls it
	})
}

// DetachedValue answers as Value does while the attempt runs (its number,
// its parent's values) and goes on answering so after its end, without
// making the standard context behind it.
func TestAttemptDetachedValue(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")
	a := new(job.Attempt)
	var r job.Run
	r.Start(parent, job.NewPolicy(), "", &job.Env{})
	r.Begin()
	r.Begin() // the second attempt
	check := func(when string) {
		t.Helper()
		if v := a.DetachedValue(key{}); v != "v" {
			t.Errorf("%s: DetachedValue(key) = %v, want v", when, v)
		}
		if n := job.AttemptFrom(detached{a}); n != 2 {
			t.Errorf("%s: AttemptFrom through DetachedValue = %d, want 2", when, n)
		}
	}
	job.Call(parent, &r, a, job.OpFunc[int](func(ctx context.Context) (int, error) {
		check("running")
		return 0, nil
	}))
	check("ended")
	// The first DetachedValue after an attempt's end allocates nothing
	// (Value would make the standard context behind it).
	ended := func() *job.Attempt {
		a := new(job.Attempt)
		var r job.Run
		r.Start(parent, job.NewPolicy(), "", &job.Env{})
		r.Begin()
		job.Call(parent, &r, a, job.OpFunc[int](func(context.Context) (int, error) { return 0, nil }))
		return a
	}
	setup := testing.AllocsPerRun(100, func() { ended() })
	with := testing.AllocsPerRun(100, func() { ended().DetachedValue(key{}) })
	if with != setup {
		t.Errorf("DetachedValue after the end allocates %v times, want 0", with-setup)
	}
	if err := context.Cause(a); err != context.Canceled {
		t.Errorf("context.Cause of the ended attempt = %v, want context.Canceled", err)
	}
}

// detached is a context that carries an attempt's values through
// DetachedValue, as package httpretry's request contexts do.
type detached struct{ a *job.Attempt }

func (detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (detached) Done() <-chan struct{}       { return nil }
func (detached) Err() error                  { return nil }
func (d detached) Value(key any) any         { return d.a.DetachedValue(key) }
