// Command lateness measures how late a parked retry starts (scenario 5).
//
// spread: n jobs fail their first attempt and ask for a retry after a delay
// drawn uniformly from [min, max]; the lateness of a job is when its retry
// starts minus (when its first attempt failed + its delay).
//
// burst: burst jobs fail their first attempt and ask for a retry at one and
// the same instant (at least -burst-at after the program starts them); the
// lateness of a job is when its retry starts minus that instant.
//
// Each runs on Rebound's scheduler (the delay is given as a Retry-After hint
// on a shared Policy whose own wait is 0, so the job waits exactly the
// delay) and, as the baseline, with a time.AfterFunc per job, which starts a
// goroutine when the timer fires:
//
//	go run ./cmd/lateness
//	go run ./cmd/lateness -n 1000 -burst 10000
//	go run ./cmd/lateness -runs 6     # medians of 6 runs, as run.sh does
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() {
	n := flag.Int("n", 10_000, "jobs of the spread test")
	lo := flag.Duration("min", 10*time.Millisecond, "shortest delay of the spread test")
	hi := flag.Duration("max", 100*time.Millisecond, "longest delay of the spread test")
	burst := flag.Int("burst", 100_000, "jobs of the burst test (0: skip it)")
	burstAt := flag.Duration("burst-at", time.Second, "when the burst is due, from its start")
	workers := flag.Int("workers", 64, "Rebound's workers (scheduler.WithWorkers)")
	seed := flag.Uint64("seed", 1, "seed of the delays")

	runs := flag.Int("runs", 1, "repeat every test this many times, alternating the implementations, and report the median of each statistic")
	flag.Parse()

	fmt.Printf("lateness: spread n=%d delays [%v, %v]; burst n=%d at +%v; Rebound workers=%d; runs=%d (medians); %s, GOMAXPROCS=%d\n\n",
		*n, *lo, *hi, *burst, *burstAt, *workers, *runs, runtime.Version(), runtime.GOMAXPROCS(0))

	rng := rand.New(rand.NewPCG(*seed, 0))
	delays := make([]time.Duration, *n)
	for i := range delays {
		delays[i] = *lo + time.Duration(rng.Int64N(int64(*hi-*lo)+1))
	}
	type cell struct{ test, impl string }
	cells := []cell{{"spread", "rebound"}, {"spread", "afterfunc"}}
	if *burst > 0 {
		cells = append(cells, cell{"burst", "rebound"}, cell{"burst", "afterfunc"})
	}
	got := map[cell][]stats{}
	for range *runs {
		for _, c := range cells {
			var late []time.Duration
			var err error
			switch c {
			case cell{"spread", "rebound"}:
				late, err = rebound(delays, time.Time{}, *workers)
			case cell{"spread", "afterfunc"}:
				late, err = afterFunc(delays, time.Time{})
			case cell{"burst", "rebound"}:
				late, err = rebound(make([]time.Duration, *burst), time.Now().Add(*burstAt), *workers)
			case cell{"burst", "afterfunc"}:
				late, err = afterFunc(make([]time.Duration, *burst), time.Now().Add(*burstAt))
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "lateness:", err)
				os.Exit(1)
			}
			got[c] = append(got[c], summarize(late))
		}
	}

	fmt.Println("| test | impl | p50 | p99 | max | mean |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	med := map[cell]stats{}
	for _, c := range cells {
		m := median(got[c])
		med[c] = m
		fmt.Printf("| %s | %s | %v | %v | %v | %v |\n", c.test, c.impl, round(m.p50), round(m.p99), round(m.max), round(m.mean))
	}
	fmt.Println()
	for _, test := range []string{"spread", "burst"} {
		a, b := med[cell{test, "rebound"}].p99, med[cell{test, "afterfunc"}].p99
		if b > 0 {
			fmt.Printf("%s: p99 rebound / afterfunc = %.2f; goal <= 1\n", test, float64(a)/float64(b))
		}
	}
}

type stats struct{ p50, p99, max, mean time.Duration }

func summarize(late []time.Duration) stats {
	slices.Sort(late)
	var sum time.Duration
	for _, d := range late {
		sum += d
	}
	q := func(p float64) time.Duration { return late[min(len(late)-1, int(p*float64(len(late))))] }
	return stats{q(0.50), q(0.99), late[len(late)-1], sum / time.Duration(len(late))}
}

// median returns the median of each statistic over runs.
func median(runs []stats) stats {
	pick := func(f func(stats) time.Duration) time.Duration {
		v := make([]time.Duration, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	return stats{
		pick(func(s stats) time.Duration { return s.p50 }),
		pick(func(s stats) time.Duration { return s.p99 }),
		pick(func(s stats) time.Duration { return s.max }),
		pick(func(s stats) time.Duration { return s.mean }),
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d
}

var errFirst = errors.New("first attempt fails")

// rebound runs one job per delay on a scheduler. With a zero at, job i's
// retry is due delays[i] after its first attempt fails; otherwise every
// retry is due at at.
func rebound(delays []time.Duration, at time.Time, workers int) ([]time.Duration, error) {
	n := len(delays)
	ctx := context.Background()
	s := scheduler.New(scheduler.WithWorkers(workers), scheduler.WithQueueSize(n))
	defer s.Shutdown(ctx)
	policy := job.NewPolicy(job.MaxAttempts(2), job.Wait(wait.Constant(0)), job.Jitter(jitter.None))
	due := make([]time.Time, n)
	started := make([]time.Time, n)
	futures := make([]*job.Future[struct{}], n)
	runtime.GC()
	for i := range futures {
		futures[i] = s.Go(ctx, func(ctx context.Context) error {
			now := time.Now()
			if job.AttemptFrom(ctx) > 1 {
				started[i] = now
				return nil
			}
			d := delays[i]
			if !at.IsZero() {
				d = at.Sub(now)
			}
			due[i] = now.Add(d)
			return job.RetryAfter(errFirst, d)
		}, policy)
	}
	late := make([]time.Duration, n)
	for i, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		late[i] = started[i].Sub(due[i])
	}
	return late, nil
}

// afterFunc is the baseline: a time.AfterFunc per job.
func afterFunc(delays []time.Duration, at time.Time) ([]time.Duration, error) {
	n := len(delays)
	due := make([]time.Time, n)
	started := make([]time.Time, n)
	var wg sync.WaitGroup
	wg.Add(n)
	runtime.GC()
	for i := range n {
		now := time.Now()
		d := delays[i]
		if !at.IsZero() {
			d = at.Sub(now)
		}
		due[i] = now.Add(d)
		time.AfterFunc(d, func() {
			started[i] = time.Now()
			wg.Done()
		})
	}
	wg.Wait()
	late := make([]time.Duration, n)
	for i := range late {
		late[i] = started[i].Sub(due[i])
	}
	return late, nil
}
