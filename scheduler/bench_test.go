package scheduler_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// The efficiency figures use one shared Policy and context.Background(),
// as the design asks; BenchmarkParkedMemory reports a cancellable ctx per
// job beside them.

const fanout = 100_000

var benchPolicy = job.NewPolicy(job.MaxAttempts(3))

func trivial(context.Context) (int, error) { return 1, nil }

// BenchmarkSubmitWait: one trivial job submitted and waited for per
// iteration, on 64 workers.
func BenchmarkSubmitWait(b *testing.B) {
	s := scheduler.New(scheduler.WithWorkers(64))
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scheduler.Submit(s, ctx, trivial, benchPolicy).Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChannelSubmitWait is SubmitWait's baseline: a job sent to one of
// 64 goroutines on a channel, its result received on a channel.
func BenchmarkChannelSubmitWait(b *testing.B) {
	type req struct {
		ctx context.Context
		out chan int
	}
	jobs := make(chan req)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for r := range jobs {
				v, _ := trivial(r.ctx)
				r.out <- v
			}
		})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out := make(chan int, 1)
		jobs <- req{ctx, out}
		<-out
	}
	close(jobs)
	wg.Wait()
}

// reportPerJob reports ns and allocations per job of a benchmark that ran
// jobs jobs per iteration, from the allocation count at its start.
func reportPerJob(b *testing.B, mallocs0 uint64, jobs int) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := float64(b.N) * float64(jobs)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/job")
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/n, "allocs/job")
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkFanout100k: 100,000 trivial jobs submitted, then all waited for,
// per iteration, on 64 workers.
func BenchmarkFanout100k(b *testing.B) {
	s := scheduler.New(scheduler.WithWorkers(64), scheduler.WithQueueSize(fanout))
	defer s.Close()
	ctx := context.Background()
	futures := make([]*job.Future[int], fanout)
	b.ReportAllocs()
	m0 := mallocs()
	for b.Loop() {
		for i := range futures {
			futures[i] = scheduler.Submit(s, ctx, trivial, benchPolicy)
		}
		for _, f := range futures {
			if _, err := f.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerJob(b, m0, fanout)
}

// BenchmarkChannelPool64 is Fanout100k's baseline: a plain pool of 64
// goroutines reading job indexes from a channel, writing results into a
// slice, with a WaitGroup for the batch.
func BenchmarkChannelPool64(b *testing.B) {
	ctx := context.Background()
	results := make([]int, fanout)
	jobs := make(chan int, 1024)
	var batch, workers sync.WaitGroup
	for range 64 {
		workers.Go(func() {
			for i := range jobs {
				results[i], _ = trivial(ctx)
				batch.Done()
			}
		})
	}
	b.ReportAllocs()
	m0 := mallocs()
	for b.Loop() {
		batch.Add(fanout)
		for i := range fanout {
			jobs <- i
		}
		batch.Wait()
	}
	reportPerJob(b, m0, fanout)
	close(jobs)
	workers.Wait()
}

// BenchmarkParkedMemory reports the heap a parked job costs: 100,000 jobs
// that failed once and wait an hour, with one shared Policy, under
// context.Background() or each under a cancellable ctx of its own.
func BenchmarkParkedMemory(b *testing.B) {
	cases := []struct {
		name      string
		ctxPerJob bool
	}{
		{"Background", false},
		{"CancelCtxPerJob", true},
	}
	pol := constant(time.Hour)
	fail := func(context.Context) error { return errBoom }
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			futures := make([]*job.Future[struct{}], fanout)
			cancels := make([]context.CancelFunc, fanout)
			var bytes float64
			for b.Loop() {
				before := heapInuse()
				s := scheduler.New(scheduler.WithQueueSize(fanout))
				for i := range futures {
					ctx := context.Background()
					if c.ctxPerJob {
						ctx, cancels[i] = context.WithCancel(ctx)
					}
					futures[i] = s.Go(ctx, fail, pol)
				}
				if err := s.WaitSettled(context.Background()); err != nil {
					b.Fatal(err)
				}
				if st := s.Stats(); st.Parked != fanout {
					b.Fatalf("Stats().Parked = %d, want %d", st.Parked, fanout)
				}
				bytes = perJob(before, heapInuse(), fanout)
				s.Close()
				clear(futures) // let this round's jobs go before the next measures
				for i, cancel := range cancels {
					if cancel != nil {
						cancel()
						cancels[i] = nil
					}
				}
			}
			b.ReportMetric(bytes, "B/parked-job")
		})
	}
}

// BenchmarkDo: one trivial job per iteration through Do, its attempt
// inline on the caller's goroutine, without and with a key (a key with no
// state, made and dropped with the job, as a request to an idle host);
// job.Do, which has no scheduler, is its baseline.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	key := job.Key("api.example.com:443")
	for _, bb := range []struct {
		name string
		do   func(s *scheduler.Scheduler) (int, error)
	}{
		{"job.Do", func(*scheduler.Scheduler) (int, error) { return job.Do(ctx, trivial, benchPolicy) }},
		{"no key", func(s *scheduler.Scheduler) (int, error) { return scheduler.Do(s, ctx, trivial, benchPolicy) }},
		{"key", func(s *scheduler.Scheduler) (int, error) { return scheduler.Do(s, ctx, trivial, benchPolicy, key) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			s := scheduler.New(scheduler.WithWorkers(64))
			defer s.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bb.do(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
