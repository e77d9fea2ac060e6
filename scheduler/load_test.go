package scheduler_test

// The load test: a million submissions (scaled down by default) through a
// small admission bound, Submit and TrySubmit mixed from 64 goroutines.
// Backpressure must hold memory bounded and nothing may deadlock.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func TestStressLoad(t *testing.T) {
	n := scale(1_000_000, 20_000)
	const (
		submitters = 64
		queue      = 64
		workers    = 8
		window     = 32 // futures a submitter keeps outstanding before it waits for the oldest
		// The bound on the heap's growth: the admission bound holds at
		// most queue jobs, each submitter at most window futures; what is
		// left is garbage the GC has not collected yet. Independent of n.
		heapBound = 64 << 20
	)
	ignore := goleak.IgnoreCurrent()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	s := scheduler.New(scheduler.WithWorkers(workers), scheduler.WithQueueSize(queue))
	// One shared policy, context.Background: the cheap path. One job in ten
	// fails once and is retried after a microsecond: retries are admitted
	// already and must never wait behind the blocked submitters.
	policy := job.NewPolicy(job.Wait(wait.Constant(time.Microsecond)), job.Jitter(jitter.None))
	var attempts atomic.Int64
	op := func(i int) func(context.Context) (int, error) {
		first := true
		return func(context.Context) (int, error) {
			attempts.Add(1)
			if i%10 == 0 && first {
				first = false
				return 0, errBoom
			}
			return i, nil
		}
	}

	// Samplers: the peak heap, and the peak number of jobs in the
	// scheduler, which the admission bound caps.
	_, stopHeap := chaosSampleHeap()
	var peakInFlight atomic.Int64
	stopInFlight := make(chan struct{})
	var samplers sync.WaitGroup
	samplers.Add(1)
	go func() {
		defer samplers.Done()
		for {
			st := s.Stats()
			if v := int64(st.Queued + st.Running + st.Parked + st.Waiting); v > peakInFlight.Load() {
				peakInFlight.Store(v)
			}
			select {
			case <-stopInFlight:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	var tries, full, wrong atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type pending struct {
				i int
				f *job.Future[int]
			}
			ring := make([]pending, 0, window)
			check := func(p pending) {
				if v, err := p.f.Wait(context.Background()); v != p.i || err != nil {
					if wrong.Add(1) <= 5 {
						t.Errorf("job %d: %d, %v", p.i, v, err)
					}
				}
			}
			for i := g; i < n; i += submitters {
				var f *job.Future[int]
				if i%2 == 0 {
					tries.Add(1)
					var err error
					f, err = scheduler.TrySubmit(s, context.Background(), op(i), policy)
					if errors.Is(err, scheduler.ErrQueueFull) {
						full.Add(1)
						f = scheduler.Submit(s, context.Background(), op(i), policy)
					}
				} else {
					f = scheduler.Submit(s, context.Background(), op(i), policy)
				}
				if len(ring) == window {
					check(ring[0])
					ring = append(ring[:0], ring[1:]...)
				}
				ring = append(ring, pending{i, f})
			}
			for _, p := range ring {
				check(p)
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	limit := 60 * time.Second
	if n > 100_000 {
		limit = 10 * time.Minute
	}
	select {
	case <-finished:
	case <-time.After(limit):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("load test not done after %v: deadlock? stats %+v\n%s", limit, s.Stats(), buf)
	}
	took := time.Since(start)
	close(stopInFlight)
	samplers.Wait()
	peak := stopHeap()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	st := checkEnded(t, s)
	if st.Submitted != uint64(n) || st.Succeeded != uint64(n) {
		t.Errorf("Stats: Submitted %d, Succeeded %d; want %d each", st.Submitted, st.Succeeded, n)
	}
	if want := uint64((n + 9) / 10); st.Retried != want {
		t.Errorf("Stats.Retried = %d, want %d", st.Retried, want)
	}
	if p := peakInFlight.Load(); p > queue {
		t.Errorf("peak jobs in the scheduler %d > WithQueueSize(%d)", p, queue)
	}
	if full.Load() == 0 {
		t.Errorf("TrySubmit never saw ErrQueueFull: the admission bound was not reached")
	}
	growth := int64(peak) - int64(base.HeapAlloc)
	if growth > heapBound {
		t.Errorf("peak heap %.1f MiB over the baseline, want at most %d MiB: backpressure does not bound memory",
			float64(growth)/(1<<20), heapBound>>20)
	}
	leaked := noLeak(t, ignore)
	t.Logf("load: %d submissions from %d goroutines (TrySubmit %d, ErrQueueFull %d), WithQueueSize(%d), %d workers: %v, %.0f jobs/s",
		n, submitters, tries.Load(), full.Load(), queue, workers, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.Logf("load: attempts %d, retries %d; peak jobs in the scheduler %d; heap: baseline %.1f MiB, peak %.1f MiB (growth %.1f MiB); goroutines leaked %d",
		attempts.Load(), st.Retried, peakInFlight.Load(), float64(base.HeapAlloc)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20), leaked)
}
