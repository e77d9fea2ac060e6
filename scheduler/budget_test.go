package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// budgetRun submits n jobs that succeed, sleeps for advance (in a synctest
// bubble), then runs one job that always fails and retries at once, and
// returns its attempts and error. Every job runs on one worker, one after
// the other, so the token arithmetic is exact.
func budgetRun(t *testing.T, s *scheduler.Scheduler, n int, advance time.Duration, opts ...job.Option) (int, error) {
	t.Helper()
	for range n {
		if _, err := await(t, s.Go(context.Background(), func(context.Context) error { return nil }, opts...)); err != nil {
			t.Fatalf("succeeding job: %v", err)
		}
	}
	time.Sleep(advance)
	f := s.Go(context.Background(), func(context.Context) error { return errBoom },
		append([]job.Option{constant(0, job.MaxAttempts(0))}, opts...)...)
	_, err := await(t, f)
	return f.Attempts(), err
}

// TestBudgetTokens: each first attempt deposits Ratio tokens and each retry
// withdraws one; a denied retry ends the job with job.ErrBudget, whose text
// says it is a client-side limit.
func TestBudgetTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1),
			scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.5, MinPerSecond: 0, Window: 10 * time.Second}))
		defer s.Close()
		// 4 first attempts deposit 2 tokens, the failing job's first attempt
		// 0.5 more: 2 retries (2.5 -> 1.5 -> 0.5), and the third is denied.
		attempts, err := budgetRun(t, s, 4, 0)
		if attempts != 3 {
			t.Errorf("Attempts() = %d, want 3 (2 retries allowed)", attempts)
		}
		je := jobError(t, err)
		if je.Reason != job.ErrBudget || !errors.Is(err, errBoom) {
			t.Errorf("err = %v, want Reason job.ErrBudget and Last %v", err, errBoom)
		}
		if !strings.Contains(err.Error(), "client-side") {
			t.Errorf("err.Error() = %q, want it to say the limit is client-side", err.Error())
		}
		s.Close()
		st := checkEnded(t, s)
		if st.BudgetDenied != 1 || st.GaveUp != 1 || st.Retried != 2 || st.Succeeded != 4 {
			t.Errorf("Stats() BudgetDenied %d, GaveUp %d, Retried %d, Succeeded %d; want 1, 1, 2, 4",
				st.BudgetDenied, st.GaveUp, st.Retried, st.Succeeded)
		}
	})
}

// TestBudgetWindow: deposits count for Window, then expire.
func TestBudgetWindow(t *testing.T) {
	cases := []struct {
		advance time.Duration
		want    int
	}{
		{0, 3},
		{9 * time.Second, 3},
		{9999 * time.Millisecond, 3},
		{10 * time.Second, 1}, // only the failing job's own 0.5 token is left
		{time.Hour, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint("after ", c.advance), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(1),
					scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.5, Window: 10 * time.Second}))
				defer s.Close()
				attempts, err := budgetRun(t, s, 4, c.advance)
				if attempts != c.want || !errors.Is(err, job.ErrBudget) {
					t.Errorf("Attempts() = %d, err = %v; want %d, job.ErrBudget", attempts, err, c.want)
				}
			})
		})
	}
}

// TestBudgetFloor: MinPerSecond allows MinPerSecond*Window retries with no
// deposits at all; withdrawals expire after Window like deposits.
func TestBudgetFloor(t *testing.T) {
	cases := []struct {
		min  float64
		want int
	}{
		{1, 11},  // 10 retries
		{0.5, 6}, // 5 retries
		{0.05, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint("MinPerSecond=", c.min), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(1),
					scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0, MinPerSecond: c.min, Window: 10 * time.Second}))
				defer s.Close()
				attempts, err := budgetRun(t, s, 0, 0)
				if attempts != c.want || !errors.Is(err, job.ErrBudget) {
					t.Errorf("Attempts() = %d, err = %v; want %d, job.ErrBudget", attempts, err, c.want)
				}
				// The spent reserve comes back once the withdrawals expire.
				attempts, _ = budgetRun(t, s, 0, 10*time.Second)
				if attempts != c.want {
					t.Errorf("a Window later: Attempts() = %d, want %d again", attempts, c.want)
				}
			})
		})
	}
}

// TestBudgetPerKey: a keyed job needs a token from its key's budget as well
// as the scheduler's; keys do not share their budget, and the key's budget
// lasts as long as the key has jobs, across their retries.
func TestBudgetPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Ratio 1 and a reserve of 1 token per bucket; 10 unkeyed successes
		// make the scheduler-wide budget large, so that the keys' bind.
		s := scheduler.New(scheduler.WithWorkers(1),
			scheduler.WithRetryBudget(scheduler.Budget{Ratio: 1, MinPerSecond: 0.1, Window: 10 * time.Second}))
		defer s.Close()
		budgetRun(t, s, 10, 0, job.MaxAttempts(1))

		for _, key := range []string{"a", "b", "a"} {
			var mu sync.Mutex
			var left []float64 // the key's budget after each retry was granted
			f := s.Go(context.Background(), func(context.Context) error { return errBoom },
				constant(0, job.MaxAttempts(0), job.OnRetry(func(job.Event) {
					ks, _ := s.KeyStats(key) // hooks run outside the scheduler's lock
					mu.Lock()
					left = append(left, ks.Budget)
					mu.Unlock()
				})), job.Key(key))
			_, err := await(t, f)
			// The key's reserve (1) and the first attempt's deposit (1): 2 retries.
			if got := f.Attempts(); got != 3 || !errors.Is(err, job.ErrBudget) {
				t.Errorf("key %s: Attempts() = %d, err = %v; want 3, job.ErrBudget", key, got, err)
			}
			mu.Lock()
			if fmt.Sprint(left) != "[1 0]" {
				t.Errorf("key %s: Key().Budget after each retry = %v, want [1 0]", key, left)
			}
			mu.Unlock()
			if _, ok := s.KeyStats(key); ok {
				t.Errorf("key %s kept after its job ended; want dropped (and its budget full again)", key)
			}
		}
	})
}

// TestBudgetBoth: a retry needs a token from the scheduler-wide budget too,
// however full its key's budget is.
func TestBudgetBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1),
			scheduler.WithRetryBudget(scheduler.Budget{MinPerSecond: 0.1, Window: 10 * time.Second}))
		defer s.Close()
		// One token in every bucket: key a's job takes the scheduler's only one.
		if n, _ := budgetRun(t, s, 0, 0, job.Key("a")); n != 2 {
			t.Errorf("key a: Attempts() = %d, want 2", n)
		}
		if n, err := budgetRun(t, s, 0, 0, job.Key("b")); n != 1 || !errors.Is(err, job.ErrBudget) {
			t.Errorf("key b: Attempts() = %d, err = %v; want 1, job.ErrBudget (the scheduler's budget is spent)", n, err)
		}
		s.Close()
		if st := checkEnded(t, s); st.BudgetDenied != 2 {
			t.Errorf("Stats().BudgetDenied = %d, want 2", st.BudgetDenied)
		}
	})
}

// TestBudgetOff: without WithRetryBudget retries are not limited.
func TestBudgetOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1))
		defer s.Close()
		f := s.Go(context.Background(), func(context.Context) error { return errBoom }, constant(0, job.MaxAttempts(50)), job.Key("k"))
		_, err := await(t, f)
		if f.Attempts() != 50 || !errors.Is(err, job.ErrExhausted) {
			t.Errorf("Attempts() = %d, err = %v; want 50, job.ErrExhausted", f.Attempts(), err)
		}
		if ks, ok := s.KeyStats("k"); ok && ks.Budget != 0 {
			t.Errorf("Key(k).Budget = %v without a budget, want 0", ks.Budget)
		}
	})
}

// TestBudgetInvalid: WithRetryBudget panics on a budget out of range.
func TestBudgetInvalid(t *testing.T) {
	cases := []scheduler.Budget{
		{Ratio: -1},
		{Ratio: 1000.001},
		{Ratio: math.NaN()},
		{Ratio: math.Inf(1)},
		{MinPerSecond: -1},
		{MinPerSecond: math.NaN()},
		{MinPerSecond: math.Inf(1)},
		{Ratio: 0.1, Window: -time.Second},
	}
	for _, b := range cases {
		t.Run(fmt.Sprintf("%+v", b), func(t *testing.T) {
			mustPanic(t, "scheduler: ", func() { scheduler.WithRetryBudget(b) })
		})
	}
}

// TestBudgetDecimalRatio: a decimal Ratio is counted exactly. Ten first
// attempts at Ratio 0.1 earn exactly one retry (float64 sums made
// 0.99999999999999989 tokens, and denied it), at 0.3 exactly three.
func TestBudgetDecimalRatio(t *testing.T) {
	cases := []struct {
		ratio   float64
		retries int // allowed after ten first attempts
	}{
		{0.1, 1},
		{0.2, 2},
		{0.3, 3},
		{0.125, 1},
		{0.6, 6},
		{1.1, 11},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint("Ratio=", c.ratio), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := scheduler.New(scheduler.WithWorkers(1),
					scheduler.WithRetryBudget(scheduler.Budget{Ratio: c.ratio, Window: 10 * time.Second}))
				defer s.Close()
				// Nine jobs that succeed, then one that always fails: its
				// first attempt is the tenth deposit.
				attempts, err := budgetRun(t, s, 9, 0)
				if want := 1 + c.retries; attempts != want || !errors.Is(err, job.ErrBudget) {
					t.Errorf("Attempts() = %d, err = %v; want %d (%d retries), job.ErrBudget",
						attempts, err, want, c.retries)
				}
			})
		})
	}
}

// TestBudgetBucketExact drives one budget bucket with explicit times: the
// deposits of a window and the reserve are summed exactly, so the retries
// allowed and the balance left are exact.
func TestBudgetBucketExact(t *testing.T) {
	cases := []struct {
		name     string
		budget   scheduler.Budget
		deposits int // spread evenly over the window
		retries  int
		left     float64 // Balance once the retries are spent
	}{
		{"Ratio 0.1, 10 deposits", scheduler.Budget{Ratio: 0.1}, 10, 1, 0},
		{"Ratio 0.3, 10 deposits", scheduler.Budget{Ratio: 0.3}, 10, 3, 0},
		{"Ratio 0.1, 25 deposits", scheduler.Budget{Ratio: 0.1}, 25, 2, 0.5},
		{"Ratio 0.7, 3 deposits", scheduler.Budget{Ratio: 0.7}, 3, 2, 0.1},
		{"Ratio 0.000001, 1e6 deposits", scheduler.Budget{Ratio: 0.000001}, 1_000_000, 1, 0},
		{"MinPerSecond 0.1", scheduler.Budget{MinPerSecond: 0.1}, 0, 1, 0},
		{"MinPerSecond 0.29, Window 100s", scheduler.Budget{MinPerSecond: 0.29, Window: 100 * time.Second}, 0, 29, 0},
		{"MinPerSecond 10, Window 100ms", scheduler.Budget{MinPerSecond: 10, Window: 100 * time.Millisecond}, 0, 1, 0},
		{"Ratio and MinPerSecond 0.1", scheduler.Budget{Ratio: 0.1, MinPerSecond: 0.1}, 10, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			window := c.budget.Window
			if window == 0 {
				window = 10 * time.Second
			}
			b := scheduler.NewBucket(c.budget)
			for i := range c.deposits {
				b.Deposit(window * time.Duration(i) / time.Duration(c.deposits))
			}
			now := window - 1 // every deposit still counts
			for i := range c.retries {
				if !b.Retry(now) {
					t.Fatalf("retry %d denied with Balance %v, want %d retries allowed", i+1, b.Balance(now), c.retries)
				}
			}
			if b.Retry(now) {
				t.Errorf("retry %d allowed, want only %d", c.retries+1, c.retries)
			}
			if got := b.Balance(now); got != c.left {
				t.Errorf("Balance after %d retries = %v, want %v", c.retries, got, c.left)
			}
		})
	}
}

// TestBudgetBucketLarge: large balances and counts neither overflow nor
// lose precision; a reserve too large to count saturates at a huge value
// instead of wrapping around to a negative one.
func TestBudgetBucketLarge(t *testing.T) {
	const n = 1_000_000
	t.Run("a million deposits at Ratio 1000", func(t *testing.T) {
		b := scheduler.NewBucket(scheduler.Budget{Ratio: 1000})
		for range n {
			b.Deposit(0)
		}
		if got := b.Balance(0); got != 1e9 {
			t.Fatalf("Balance = %v, want 1e9", got)
		}
		if !b.Retry(0) {
			t.Fatal("Retry denied with a balance of 1e9")
		}
		if got := b.Balance(0); got != 1e9-1 {
			t.Errorf("Balance after a retry = %v, want %v", got, 1e9-1)
		}
		if got := b.Balance(10 * time.Second); got != 0 {
			t.Errorf("Balance a window later = %v, want 0 (every deposit expired)", got)
		}
	})
	t.Run("a million retries from the reserve", func(t *testing.T) {
		b := scheduler.NewBucket(scheduler.Budget{MinPerSecond: n / 10})
		for i := range n {
			if !b.Retry(time.Second) {
				t.Fatalf("retry %d denied with Balance %v, want %d allowed", i+1, b.Balance(time.Second), n)
			}
		}
		if b.Retry(time.Second) || b.Balance(time.Second) != 0 {
			t.Errorf("after %d retries: a retry allowed, Balance %v; want denied, 0", n, b.Balance(time.Second))
		}
	})
	for _, perSecond := range []float64{1e12, 1e300, math.MaxFloat64} {
		t.Run(fmt.Sprint("MinPerSecond ", perSecond), func(t *testing.T) {
			b := scheduler.NewBucket(scheduler.Budget{Ratio: 1000, MinPerSecond: perSecond})
			full := b.Balance(0)
			if full < 1e11 || math.IsInf(full, 0) {
				t.Fatalf("Balance = %v, want a huge finite balance", full)
			}
			for range n {
				b.Deposit(0)
			}
			if got := b.Balance(0); got < full {
				t.Errorf("Balance after %d deposits = %v, want >= %v (no wrap-around)", n, got, full)
			}
			for range n {
				if !b.Retry(0) {
					t.Fatalf("Retry denied with Balance %v", b.Balance(0))
				}
			}
			if got := b.Balance(0); got <= 0 {
				t.Errorf("Balance after %d deposits and %d retries = %v, want > 0", n, n, got)
			}
		})
	}
}
