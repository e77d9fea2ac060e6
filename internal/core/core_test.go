package core_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/internal/core"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job" // installs core's constructors
	"github.com/rebound-go/rebound/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type hintErr struct{ d time.Duration }

func (h hintErr) Error() string             { return "hint" }
func (h hintErr) RetryAfter() time.Duration { return h.d }

func TestErrorTrees(t *testing.T) {
	base := errors.New("base")
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		hint      time.Duration
		hinted    bool
	}{
		{"nil", nil, false, 0, false},
		{"plain", base, false, 0, false},
		{"permanent", core.Permanent(base), true, 0, false},
		{"wrapped permanent", fmt.Errorf("ctx: %w", core.Permanent(base)), true, 0, false},
		{"joined permanent", errors.Join(base, core.Permanent(base)), true, 0, false},
		{"hint", core.RetryAfter(base, time.Second), false, time.Second, true},
		{"joined hint", errors.Join(base, fmt.Errorf("x: %w", hintErr{2 * time.Second})), false, 2 * time.Second, true},
		{"negative hint", hintErr{-time.Second}, false, 0, true},
		{"first hint wins", fmt.Errorf("%w %w", hintErr{3 * time.Second}, hintErr{time.Second}), false, 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := core.IsPermanent(tc.err); got != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tc.permanent)
			}
			d, ok := core.Hint(tc.err)
			if d != tc.hint || ok != tc.hinted {
				t.Errorf("Hint = %v, %v; want %v, %v", d, ok, tc.hint, tc.hinted)
			}
		})
	}
}

func TestSharedOverCachesOneMerge(t *testing.T) {
	var b core.Builder
	b.Reset(nil)
	core.ApplyOption(job.MaxAttempts(3), &b)
	shared := &core.Shared{P: b.Standalone()}
	if p := shared.Over(core.Default); p != &shared.P {
		t.Fatalf("Over(Default) = %p, want the shared policy itself %p", p, &shared.P)
	}
	b.Reset(nil)
	core.ApplyOption(job.MaxWait(time.Minute), &b)
	base := b.Policy()
	p1, p2 := shared.Over(base), shared.Over(base)
	if p1 != p2 {
		t.Errorf("Over(base) twice = %p, %p; want one cached merge", p1, p2)
	}
	if p1.MaxAttempts != 3 || p1.MaxWait != time.Minute {
		t.Errorf("merge = MaxAttempts %d, MaxWait %v; want 3, 1m", p1.MaxAttempts, p1.MaxWait)
	}
}

func TestAttemptCtxOwnTimeout(t *testing.T) {
	mock := clock.NewMock()
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ac core.AttemptCtx
	ac.Start(parent, 2, time.Second, true, mock, true)
	if n := job.AttemptFrom(&ac); n != 2 {
		t.Errorf("AttemptFrom = %d, want 2", n)
	}
	// Under a mock clock the attempt reports no deadline of its own (a mock
	// time must not reach real-time code); its timer still ends it.
	if dl, ok := ac.Deadline(); ok {
		t.Errorf("Deadline = %v, true; want none under a mock clock", dl)
	}
	done := ac.Done()
	mock.Add(time.Second)
	<-done
	if err := ac.Err(); err != context.DeadlineExceeded {
		t.Errorf("Err = %v, want DeadlineExceeded", err)
	}
	if c := context.Cause(&ac); c != context.DeadlineExceeded {
		t.Errorf("Cause = %v, want DeadlineExceeded (the attempt's own end, the parent alive)", c)
	}
	if parent.Err() != nil {
		t.Error("the attempt's timeout canceled its parent")
	}
}

func TestAttemptCtxParentCause(t *testing.T) {
	cause := errors.New("shutting down")
	parent, cancel := context.WithCancelCause(context.Background())
	var ac core.AttemptCtx
	ac.Start(parent, 1, 0, false, clock.New(), true)
	done := ac.Done()
	cancel(cause)
	<-done
	if err := ac.Err(); err != context.Canceled {
		t.Errorf("Err = %v, want Canceled", err)
	}
	if c := context.Cause(&ac); c != cause {
		t.Errorf("Cause = %v, want the parent's cause", c)
	}
	ac.End() // idempotent after the end
}

func TestAttemptCtxErrWithoutDone(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	var ac core.AttemptCtx
	ac.Start(parent, 1, 0, false, clock.New(), false)
	cancel()
	if err := ac.Err(); err != context.Canceled {
		t.Fatalf("Err = %v after the parent ended, want Canceled", err)
	}
	select {
	case <-ac.Done():
	default:
		t.Error("Err reported the end but Done is open")
	}
}

func TestFirstAttemptContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen context.Context
	f := core.NewFuture[int](parent, core.OpFunc[int](func(ctx context.Context) (int, error) {
		seen = ctx
		return 1, nil
	}), core.Default, "", &core.Env{Clock: clock.New(), Epoch: core.Epoch})
	task := f.Task()
	if _, err, _, _ := task.Attempt(&task.First, alwaysOwn{}); err != nil {
		t.Fatal(err)
	}
	if n := job.AttemptFrom(seen); n != 1 {
		t.Errorf("AttemptFrom(first) = %d, want 1", n)
	}
	if seen.Err() != nil {
		t.Fatal("first attempt's ctx ended before the attempt did")
	}
	task.EndAttempt(nil)
	select {
	case <-seen.Done():
	default:
		t.Error("first attempt's ctx still open after EndAttempt")
	}
	if seen.Err() != context.Canceled || parent.Err() != nil {
		t.Errorf("Err = %v, parent %v; want Canceled, nil", seen.Err(), parent.Err())
	}
}

type alwaysOwn struct{}

func (alwaysOwn) Own(*core.Task) bool { return true }

// A resumed run counts on from the attempts already made, measures its
// deadline and Elapsed from the given start, and grows from the given prev.
func TestResumeContinuesAnEarlierRun(t *testing.T) {
	clk := clock.NewMock()
	clk.Set(time.Unix(1_000_000, 0))
	env := &core.Env{Clock: clk, Epoch: clk.Now()}
	p := job.NewPolicy(job.MaxAttempts(6), job.MaxElapsed(time.Minute),
		job.Wait(wait.Func(func(n int, prev time.Duration) (time.Duration, bool) { return prev + time.Second, true })),
		job.Jitter(jitter.None))
	pol := (*core.Shared)(p).Over(core.Default)

	var r core.Run
	r.Resume(pol, "task-1", env, clk.Now().Add(-50*time.Second), 3, 4*time.Second)
	if got := r.Elapsed(); got != 50*time.Second {
		t.Fatalf("Elapsed = %v, want 50s from the given start", got)
	}
	if n := r.Begin(); n != 4 {
		t.Fatalf("Begin = %d, want 4 (three attempts made before)", n)
	}
	d := r.Judge(errors.New("boom"), false, nil)
	if d.Verdict != core.Retry || d.Wait != 5*time.Second || r.Prev() != 5*time.Second {
		t.Fatalf("Judge = %+v prev %v, want a retry after 5s grown from prev 4s", d, r.Prev())
	}
	clk.Add(6 * time.Second) // 56s since the start: a 5s wait would end past the 60s deadline
	r.Begin()
	if d := r.Judge(errors.New("boom"), false, nil); d.Verdict != core.GiveUp || !errors.Is(d.Reason, core.ErrDeadline) {
		t.Fatalf("Judge at 56s = %+v, want ErrDeadline from the start given to Resume", d)
	}
	var r2 core.Run
	r2.Resume(pol, "task-2", env, clk.Now(), 5, 0)
	r2.Begin()
	if d := r2.Judge(errors.New("boom"), false, nil); d.Verdict != core.GiveUp || !errors.Is(d.Reason, core.ErrExhausted) {
		t.Fatalf("sixth attempt: %+v, want ErrExhausted (MaxAttempts 6 counts resumed attempts)", d)
	}
}
