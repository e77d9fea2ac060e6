package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

type spanKey struct{}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	starts int
	events []scheduler.Event
	spans  []any // the span value seen with each AttemptEnded
}

func (r *recorder) StartAttempt(ctx context.Context, key string, attempt int) context.Context {
	r.mu.Lock()
	r.starts++
	r.mu.Unlock()
	return context.WithValue(ctx, spanKey{}, attempt)
}

func (r *recorder) Observe(ctx context.Context, e scheduler.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if e.Kind == scheduler.AttemptEnded {
		r.spans = append(r.spans, ctx.Value(spanKey{}))
	}
}

func (r *recorder) count(k scheduler.EventKind) (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// The observer sees every job's submission, attempts (with the context it
// made for each), verdicts, end and key pauses, independent of the policy's
// hooks; the attempt's context derives from the observer's.
func TestObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2))
		rec := &recorder{}
		s.Observe(rec)
		pol := job.NewPolicy(job.MaxAttempts(3), job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None))
		var sawSpan []any
		var mu sync.Mutex
		flaky := 0
		ops := []func(context.Context) (int, error){
			func(ctx context.Context) (int, error) { // success at once
				mu.Lock()
				sawSpan = append(sawSpan, ctx.Value(spanKey{}))
				mu.Unlock()
				return 1, nil
			},
			func(context.Context) (int, error) { // fails once, then succeeds
				mu.Lock()
				defer mu.Unlock()
				if flaky++; flaky == 1 {
					return 0, job.RetryAfter(errBoom, 2*time.Second)
				}
				return 2, nil
			},
			func(context.Context) (int, error) { return 0, job.Permanent(errBoom) },
		}
		var fs []*job.Future[int]
		for _, op := range ops {
			fs = append(fs, scheduler.Submit(s, context.Background(), op, pol, job.Key("k")))
		}
		for _, f := range fs {
			f.Wait(context.Background())
		}
		s.Shutdown(context.Background())
		s.Close() // a second stop emits no second Stopped

		if n := rec.count(scheduler.JobSubmitted); n != 3 {
			t.Errorf("JobSubmitted %d, want 3", n)
		}
		if n := rec.count(scheduler.AttemptEnded); n != 4 || rec.starts != 4 {
			t.Errorf("AttemptEnded %d, StartAttempt %d; want 4, 4", n, rec.starts)
		}
		if n := rec.count(scheduler.JobEnded); n != 3 {
			t.Errorf("JobEnded %d, want 3", n)
		}
		if n := rec.count(scheduler.KeyPaused); n != 1 {
			t.Errorf("KeyPaused %d, want 1", n)
		}
		if n := rec.count(scheduler.Stopped); n != 1 {
			t.Errorf("Stopped %d, want 1", n)
		}
		if len(sawSpan) != 1 || sawSpan[0] != 1 {
			t.Errorf("the operation saw the observer's value %v, want [1]", sawSpan)
		}
		var retries, permanent int
		for _, e := range rec.events {
			switch {
			case e.Kind == scheduler.AttemptEnded && e.Retry:
				retries++
				if e.Wait < 2*time.Second || !errors.Is(e.Err, errBoom) {
					t.Errorf("retry event %+v: want Wait >= 2s (the hint) and the attempt's error", e)
				}
			case e.Kind == scheduler.JobEnded && e.Reason == job.ErrPermanent:
				permanent++
				if e.Attempt != 1 || e.Err == nil {
					t.Errorf("permanent JobEnded %+v: want 1 attempt and the job's error", e)
				}
			}
		}
		if retries != 1 || permanent != 1 {
			t.Errorf("retries %d, permanent give-ups %d; want 1, 1", retries, permanent)
		}
		for i, v := range rec.spans {
			if v == nil {
				t.Errorf("AttemptEnded %d got a context without the observer's value", i)
			}
		}
	})
}

// Observe(nil) removes the observer.
func TestObserverRemoved(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	rec := &recorder{}
	s.Observe(rec)
	s.Observe(nil)
	scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil }).Wait(context.Background())
	if n := len(rec.events); n != 0 || rec.starts != 0 {
		t.Errorf("%d events, %d starts after Observe(nil); want none", n, rec.starts)
	}
}

// An abandoned attempt ends with an AttemptEnded event marked Abandoned
// (so that a tracer can end its span) when its operation returns; nothing
// is observed after Stopped, not even a refused submission.
func TestObserverAbandonedAndStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithGrace(time.Second))
		rec := &recorder{}
		s.Observe(rec)
		release := make(chan struct{})
		started := make(chan struct{})
		f := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
			close(started)
			<-release // ignores its context
			return 1, nil
		})
		<-started
		s.Close() // abandons the attempt after the grace
		var je *job.Error
		if _, err := f.Wait(context.Background()); !errors.As(err, &je) || !errors.Is(je.Last, scheduler.ErrAbandoned) {
			t.Fatalf("err = %v, want abandoned", err)
		}
		close(release)
		synctest.Wait()
		scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil })
		var abandoned, ended, afterStop int
		stopped := false
		rec.mu.Lock()
		for _, e := range rec.events {
			switch {
			case e.Kind == scheduler.Stopped:
				stopped = true
			case e.Kind == scheduler.AttemptEnded && e.Abandoned:
				abandoned++
			case e.Kind == scheduler.JobEnded:
				ended++
				if !e.Canceled || !e.Abandoned {
					t.Errorf("JobEnded %+v: want Canceled and Abandoned", e)
				}
			}
			if stopped && e.Kind != scheduler.Stopped && e.Kind != scheduler.AttemptEnded {
				afterStop++
			}
		}
		rec.mu.Unlock()
		if abandoned != 1 || ended != 1 || !stopped || afterStop != 0 {
			t.Errorf("abandoned AttemptEnded %d, JobEnded %d, Stopped %v, events after Stopped %d; want 1, 1, true, 0",
				abandoned, ended, stopped, afterStop)
		}
	})
}
