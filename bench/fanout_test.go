package bench

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// Scenario 3: fan-out. Each iteration runs fanJobs trivial jobs through
// fanWorkers workers and waits for every result; the pools are made once,
// outside the timed loop. Besides the per-iteration figures, each benchmark
// reports ns/job, B/job and allocs/job (the heap counters of
// runtime.MemStats over the whole loop, divided by the jobs run).

const (
	fanJobs    = 100_000
	fanWorkers = 64
)

// work is the trivial job: all of its cost is the machinery around it.
func work(i int) int { return 2*i + 1 }

// fanOut times run, which must compute work(i) into results[i] for every i.
func fanOut(b *testing.B, run func(results []int)) {
	b.Helper()
	results := make([]int, fanJobs)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		clear(results)
		run(results)
	}
	runtime.ReadMemStats(&after)
	jobs := float64(b.N) * fanJobs
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/jobs, "ns/job")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/jobs, "allocs/job")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/jobs, "B/job")
	for i, v := range results {
		if v != work(i) {
			b.Fatalf("results[%d] = %d, want %d", i, v, work(i))
		}
	}
}

func BenchmarkFanOut(b *testing.B) {
	ctx := context.Background()
	inputs := make([]int, fanJobs)
	for i := range inputs {
		inputs[i] = i
	}

	// Rebound: one scheduler with room for every job (WithQueueSize bounds
	// queued+running+parked; pond's queue is unbounded), one shared Policy,
	// context.Background (DESIGN's measuring rules).
	newScheduler := func(b *testing.B) *scheduler.Scheduler {
		s := scheduler.New(scheduler.WithWorkers(fanWorkers), scheduler.WithQueueSize(fanJobs))
		b.Cleanup(func() { s.Shutdown(ctx) })
		return s
	}
	policy := job.NewPolicy()

	b.Run("rebound-submit", func(b *testing.B) {
		s := newScheduler(b)
		futures := make([]*job.Future[int], fanJobs)
		fanOut(b, func(results []int) {
			for i := range futures {
				futures[i] = scheduler.Submit(s, ctx, func(context.Context) (int, error) { return work(i), nil }, policy)
			}
			for i, f := range futures {
				v, err := f.Wait(ctx)
				if err != nil {
					b.Fatal(err)
				}
				results[i] = v
			}
		})
	})

	b.Run("rebound-submit-ctx", func(b *testing.B) {
		// The same with a cancelable context per job, as a caller that can
		// cancel each job has: the scheduler watches each context.
		s := newScheduler(b)
		futures := make([]*job.Future[int], fanJobs)
		cancels := make([]context.CancelFunc, fanJobs)
		fanOut(b, func(results []int) {
			for i := range futures {
				jctx, cancel := context.WithCancel(ctx)
				cancels[i] = cancel
				futures[i] = scheduler.Submit(s, jctx, func(context.Context) (int, error) { return work(i), nil }, policy)
			}
			for i, f := range futures {
				v, err := f.Wait(ctx)
				if err != nil {
					b.Fatal(err)
				}
				results[i] = v
				cancels[i]()
			}
		})
	})

	b.Run("rebound-map", func(b *testing.B) {
		s := newScheduler(b)
		fn := func(_ context.Context, i int) (int, error) { return work(i), nil }
		fanOut(b, func(results []int) {
			for r := range scheduler.Map(s, ctx, inputs, fn, policy) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
				results[r.Index] = r.Value
			}
		})
	})

	b.Run("chan-pool", func(b *testing.B) {
		// The pool written by hand: fanWorkers goroutines on a channel.
		jobs := make(chan int, fanWorkers)
		var results []int
		var wg sync.WaitGroup
		for range fanWorkers {
			go func() {
				for i := range jobs {
					results[i] = work(i)
					wg.Done()
				}
			}()
		}
		defer close(jobs)
		fanOut(b, func(r []int) {
			results = r
			wg.Add(fanJobs)
			for i := range fanJobs {
				jobs <- i
			}
			wg.Wait()
		})
	})

	b.Run("pond-go", func(b *testing.B) {
		// pond's plain Go: no future; a WaitGroup waits for the results.
		pool := pond.NewPool(fanWorkers)
		defer pool.StopAndWait()
		var wg sync.WaitGroup
		fanOut(b, func(results []int) {
			wg.Add(fanJobs)
			for i := range fanJobs {
				err := pool.Go(func() {
					results[i] = work(i)
					wg.Done()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	})

	b.Run("pond-go-ctx", func(b *testing.B) {
		// pond's plain Go given the same cancelable context per job as
		// rebound-submit-ctx (the task checks it, the caller cancels it
		// after its result): the baseline for a context per job.
		pool := pond.NewPool(fanWorkers)
		defer pool.StopAndWait()
		var wg sync.WaitGroup
		cancels := make([]context.CancelFunc, fanJobs)
		fanOut(b, func(results []int) {
			wg.Add(fanJobs)
			for i := range fanJobs {
				jctx, cancel := context.WithCancel(ctx)
				cancels[i] = cancel
				err := pool.Go(func() {
					if jctx.Err() == nil {
						results[i] = work(i)
					}
					wg.Done()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			for _, cancel := range cancels {
				cancel()
			}
		})
	})

	b.Run("pond-submit", func(b *testing.B) {
		// pond with a future per job: Submit, then each task's Wait.
		pool := pond.NewPool(fanWorkers)
		defer pool.StopAndWait()
		tasks := make([]pond.Task, fanJobs)
		fanOut(b, func(results []int) {
			for i := range tasks {
				tasks[i] = pool.Submit(func() { results[i] = work(i) })
			}
			for _, t := range tasks {
				if err := t.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("pond-result", func(b *testing.B) {
		// pond's result pool: a future that carries the value, like
		// Rebound's.
		pool := pond.NewResultPool[int](fanWorkers)
		defer pool.StopAndWait()
		tasks := make([]pond.ResultTask[int], fanJobs)
		fanOut(b, func(results []int) {
			for i := range tasks {
				tasks[i] = pool.Submit(func() int { return work(i) })
			}
			for i, t := range tasks {
				v, err := t.Wait()
				if err != nil {
					b.Fatal(err)
				}
				results[i] = v
			}
		})
	})

	b.Run("ants", func(b *testing.B) {
		pool, err := ants.NewPool(fanWorkers)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Release()
		var wg sync.WaitGroup
		fanOut(b, func(results []int) {
			wg.Add(fanJobs)
			for i := range fanJobs {
				err := pool.Submit(func() {
					results[i] = work(i)
					wg.Done()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	})

	b.Run("errgroup", func(b *testing.B) {
		// errgroup with SetLimit: a goroutine per job, at most fanWorkers
		// at once.
		fanOut(b, func(results []int) {
			var g errgroup.Group
			g.SetLimit(fanWorkers)
			for i := range fanJobs {
				g.Go(func() error {
					results[i] = work(i)
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	})

	b.Run("semaphore", func(b *testing.B) {
		// x/sync/semaphore: a goroutine per job once a slot is acquired;
		// acquiring every slot waits for the last.
		sem := semaphore.NewWeighted(fanWorkers)
		fanOut(b, func(results []int) {
			for i := range fanJobs {
				if err := sem.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				go func() {
					results[i] = work(i)
					sem.Release(1)
				}()
			}
			if err := sem.Acquire(ctx, fanWorkers); err != nil {
				b.Fatal(err)
			}
			sem.Release(fanWorkers)
		})
	})
}
