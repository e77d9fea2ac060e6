package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// rateStarts records when each attempt of a key started.
type rateStarts struct {
	mu sync.Mutex
	at map[string][]time.Duration
	t0 time.Time
}

func newRateStarts() *rateStarts {
	return &rateStarts{at: map[string][]time.Duration{}, t0: time.Now()}
}

func (s *rateStarts) op(key string, err error) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		s.mu.Lock()
		s.at[key] = append(s.at[key], time.Since(s.t0))
		s.mu.Unlock()
		return 0, err
	}
}

// A fixed key rate spaces every attempt of a key, first or retry, after its
// burst; jobs without a token wait on the heap (Stats.Paced), not on a
// worker; un-keyed jobs and other keys are not held back.
func TestKeyRateFixed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(4), scheduler.WithKeyRate(10, 2))
		defer s.Close()
		st := newRateStarts()
		var fs []*job.Future[int]
		for range 6 {
			fs = append(fs, scheduler.Submit(s, context.Background(), st.op("a", nil), job.Key("a")))
		}
		free := scheduler.Submit(s, context.Background(), st.op("", nil))
		synctest.Wait()
		if got := s.Stats(); got.Paced != 4 {
			t.Errorf("Stats.Paced = %d, want 4 (6 jobs, burst 2)", got.Paced)
		}
		if ks, ok := s.KeyStats("a"); !ok || ks.Paced != 4 || ks.Rate != 10 {
			t.Errorf("KeyStats(a) = %+v, want Paced 4, Rate 10", ks)
		}
		if _, err := free.Wait(context.Background()); err != nil || time.Since(st.t0) != 0 {
			t.Errorf("un-keyed job: %v after %v, want at once", err, time.Since(st.t0))
		}
		for _, f := range fs {
			f.Wait(context.Background())
		}
		want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
		got := st.at["a"]
		if len(got) != len(want) {
			t.Fatalf("rateStarts %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("attempt %d of key a started at %v, want %v (all: %v)", i, got[i], want[i], got)
			}
		}
	})
}

// Retries take tokens too.
func TestKeyRateRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyRate(1, 1))
		defer s.Close()
		st := newRateStarts()
		f := scheduler.Submit(s, context.Background(), st.op("a", errBoom), job.Key("a"),
			constant(10*time.Millisecond, job.MaxAttempts(3)))
		f.Wait(context.Background())
		want := []time.Duration{0, time.Second, 2 * time.Second}
		if got := st.at["a"]; len(got) != 3 || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("attempts at %v, want %v (1 token per second)", got, want)
		}
	})
}

// SetKeyRate overrides the scheduler's rate for one key; a paced wait that
// outlasts a job's deadline ends it with ErrDeadline at once.
func TestSetKeyRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyRate(1000, 1))
		defer s.Close()
		s.SetKeyRate("slow", 0.5, 1)
		st := newRateStarts()
		a := scheduler.Submit(s, context.Background(), st.op("slow", nil), job.Key("slow"))
		b := scheduler.Submit(s, context.Background(), st.op("slow", nil), job.Key("slow"), job.MaxElapsed(time.Second))
		a.Wait(context.Background())
		_, err := b.Wait(context.Background())
		var je *job.Error
		if !errors.As(err, &je) || je.Reason != job.ErrDeadline || je.Attempts != 0 {
			t.Errorf("b: %v, want ErrDeadline with no attempt (its token is 2s away, its budget 1s)", err)
		}
		if ks, _ := s.KeyStats("slow"); ks.Rate != 0.5 {
			t.Errorf("KeyStats(slow).Rate = %v, want 0.5", ks.Rate)
		}
	})
}

// Bad rates are programmer errors: a scheduler: panic at the call site.
func TestKeyRateBadInput(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	for name, f := range map[string]func(){
		"zero rate":     func() { scheduler.WithKeyRate(0, 1) },
		"negative rate": func() { scheduler.WithKeyRate(-1, 1) },
		"NaN":           func() { scheduler.WithKeyRate(math.NaN(), 1) },
		"Inf":           func() { scheduler.WithKeyRate(math.Inf(1), 1) },
		"burst 0":       func() { scheduler.WithKeyRate(1, 0) },
		"Set burst 0":   func() { s.SetKeyRate("k", 1, 0) },
		"Set empty key": func() { s.SetKeyRate("", 1, 1) },
		"beta 1":        func() { scheduler.AdaptiveBeta(1) },
		"floor 0":       func() { scheduler.AdaptiveFloor(0) },
		"scale Inf":     func() { scheduler.AdaptiveScale(math.Inf(1)) },
	} {
		t.Run(name, func(t *testing.T) { mustPanic(t, "scheduler: ", f) })
	}
}

// An adaptive key runs unrestricted until throttled; a burst of throttles at
// start lowers its rate towards what it was served at, not to the floor,
// one drop per half second; successes grow it back; another key is not
// slowed.
func TestAdaptiveKeyRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(64), scheduler.WithAdaptiveKeyRate())
		defer s.Close()
		// 64 attempts in flight at once, all answered with a throttle.
		var mu sync.Mutex
		inFlight, all := 0, make(chan struct{})
		op := func(context.Context) (int, error) {
			mu.Lock()
			if inFlight++; inFlight == 64 {
				close(all)
			}
			mu.Unlock()
			<-all
			return 0, job.Throttled(errBoom)
		}
		// Unrestricted before any throttle.
		if ks, _ := s.KeyStats("a"); ks.Rate != 0 {
			t.Fatalf("rate before any job = %v, want 0 (unrestricted)", ks.Rate)
		}
		var fs []*job.Future[int]
		for range 64 {
			fs = append(fs, scheduler.Submit(s, context.Background(), op, job.Key("a"), job.MaxAttempts(1)))
		}
		other := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil }, job.Key("b"))
		for _, f := range fs {
			f.Wait(context.Background())
		}
		if _, err := other.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ks, ok := s.KeyStats("a")
		if !ok {
			t.Fatal("key a dropped while its bucket refills")
		}
		// 64 throttles within the first instant: one drop, to 0.7 x the
		// rate sent (64 attempts over the 100 ms minimum: 640/s).
		if want := 0.7 * 640; math.Abs(ks.Rate-want) > 1e-9 {
			t.Errorf("rate after a burst of 64 throttles = %v, want %v (one drop from the served rate, not the floor)", ks.Rate, want)
		}
		if kb, _ := s.KeyStats("b"); kb.Rate != 0 {
			t.Errorf("key b's rate = %v, want 0: another key's throttles do not slow it", kb.Rate)
		}
		// Successes grow the rate back along the cubic curve, capped (as in
		// AWS's adaptive mode) at twice the rate the key actually sends: 10
		// attempts per second here.
		ok1 := func(context.Context) (int, error) { return 1, nil }
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			scheduler.Submit(s, context.Background(), ok1, job.Key("a")).Wait(context.Background())
		}
		if ks, _ := s.KeyStats("a"); ks.Rate < 19 || ks.Rate > 25 {
			t.Errorf("rate after 2s of successes at 10/s = %v, want about twice the send rate (20)", ks.Rate)
		}
		// Idle past its window: dropped, unrestricted again.
		time.Sleep(10 * time.Second)
		if ks, ok := s.KeyStats("a"); ok {
			t.Errorf("key a kept after 10s idle: %+v", ks)
		}
	})
}

// A key's paced jobs wait in line and take their tokens as they start: a
// rate lowered while they wait applies to the very next attempt, not after
// a backlog reserved at the old rate.
func TestKeyRateChangeAppliesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyRate(10, 1))
		defer s.Close()
		st := newRateStarts()
		var fs []*job.Future[int]
		for range 5 {
			fs = append(fs, scheduler.Submit(s, context.Background(), st.op("a", nil), job.Key("a")))
		}
		synctest.Wait()
		if ks, _ := s.KeyStats("a"); ks.Paced != 4 {
			t.Fatalf("KeyStats(a).Paced = %d, want 4", ks.Paced)
		}
		if got := s.Stats(); got.Paced != 4 || got.Parked != 0 {
			t.Errorf("Stats Paced %d, Parked %d; want 4, 0 (a paced head is not a parked retry)", got.Paced, got.Parked)
		}
		// No token is taken ahead of its attempt: the head, due at 100ms at
		// the old rate, finds the bucket short then and waits for the new
		// rate's next token.
		s.SetKeyRate("a", 1, 1)
		for _, f := range fs {
			f.Wait(context.Background())
		}
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
		got := st.at["a"]
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				t.Fatalf("starts %v, want %v", got, want)
			}
		}
	})
}

// The context of a key's paced jobs, its head on the heap and the rest in
// line, ends each of them at once, exactly once; the key's next job is not
// held back by them. (A paced job used to be registered with its context a
// second time, and the context's end then crashed the scheduler.)
func TestKeyRatePacedJobsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyRate(1, 1))
		defer s.Close()
		ctx, cancel := context.WithCancelCause(context.Background())
		gone := errors.New("caller gone")
		var fs []*job.Future[int]
		for range 4 {
			fs = append(fs, scheduler.Submit(s, ctx, func(context.Context) (int, error) { return 1, nil }, job.Key("a")))
		}
		if _, err := fs[0].Wait(context.Background()); err != nil {
			t.Fatalf("first job: %v", err)
		}
		synctest.Wait()
		if st := s.Stats(); st.Paced != 3 {
			t.Fatalf("Stats().Paced = %d, want 3 (one on the heap, two in line)", st.Paced)
		}
		cancel(gone)
		for i, f := range fs[1:] {
			_, err := f.Wait(context.Background())
			if je := jobError(t, err); je.Reason != gone || je.Attempts != 0 {
				t.Errorf("paced job %d: %v; want Reason %v after 0 attempts", i+1, err, gone)
			}
		}
		st := checkEnded(t, s)
		if st.Canceled != 3 || st.Paced != 0 {
			t.Errorf("stats %+v: want 3 canceled, none paced", st)
		}
		start := time.Now()
		if _, err := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 1, nil }, job.Key("a")).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the key's next job waited %v, want at most its one token's 1s", d)
		}
	})
}

// A job waiting for its key's slot holds no token: when a long attempt
// frees the only slot, the jobs behind it start at the key's rate, not in
// a burst of tokens they took while they waited.
func TestKeyRateWithKeyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyLimit(1), scheduler.WithKeyRate(10, 1))
		defer s.Close()
		st := newRateStarts()
		long := scheduler.Submit(s, context.Background(), func(ctx context.Context) (int, error) {
			st.op("a", nil)(ctx)
			time.Sleep(time.Second)
			return 1, nil
		}, job.Key("a"))
		var fs []*job.Future[int]
		for range 4 {
			fs = append(fs, scheduler.Submit(s, context.Background(), st.op("a", nil), job.Key("a")))
		}
		synctest.Wait()
		if ks, _ := s.KeyStats("a"); ks.Running != 1 || ks.Waiting != 4 || ks.Paced != 0 {
			t.Fatalf("KeyStats(a) = %+v, want 1 running, 4 waiting for the slot, none paced", ks)
		}
		long.Wait(context.Background())
		for _, f := range fs {
			f.Wait(context.Background())
		}
		want := []time.Duration{0, time.Second, 1100 * time.Millisecond, 1200 * time.Millisecond, 1300 * time.Millisecond}
		if got := st.at["a"]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("starts %v, want %v", got, want)
		}
	})
}
