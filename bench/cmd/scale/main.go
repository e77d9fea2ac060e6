// Command scale parks n jobs (default 1,000,000) on one scheduler and cancels
// them (scenario 6), and reports ns per park and per cancel:
//
//   - park: from the first Submit to the moment the last job is on the heap;
//     it includes submitting the job, running its first attempt on a worker
//     (which fails) and parking its retry, an hour away.
//   - cancel, one ctx: every job under one cancelable context, canceled once;
//     until the last future has resolved.
//   - cancel, Future.Cancel: each job canceled through its own future.
//
// The baseline is a time.AfterFunc per job (park) and Timer.Stop (cancel),
// which runs no attempt. The goroutine count is sampled right after the
// cancel: canceling through one context must not start a goroutine per job.
//
//	go run ./cmd/scale
//	go run ./cmd/scale -n 10000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() {
	n := flag.Int("n", 1_000_000, "jobs to park and cancel")
	runs := flag.Int("runs", 1, "repeat this many times and report the median of each figure")
	flag.Parse()

	fmt.Printf("scale: n=%d, runs=%d (medians); %s, GOMAXPROCS=%d\n\n", *n, *runs, runtime.Version(), runtime.GOMAXPROCS(0))
	var rows [3][]figures
	for range *runs {
		for i, f := range []func(int) (figures, error){reboundCtx, reboundFuture, afterFunc} {
			r, err := f(*n)
			if err != nil {
				fmt.Fprintln(os.Stderr, "scale:", err)
				os.Exit(1)
			}
			rows[i] = append(rows[i], r)
		}
	}
	fmt.Println("| impl | ns/park | ns/cancel | heap B/parked job | goroutines after cancel |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for i, name := range []string{"rebound, cancel one shared ctx", "rebound, Future.Cancel each", "time.AfterFunc + Stop (no attempt)"} {
		m := median(rows[i])
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %d |\n", name, m.park, m.cancel, m.bytes, m.goroutines)
	}
}

type figures struct {
	park, cancel, bytes float64 // ns/park, ns/cancel, B/parked job
	goroutines          int
}

func median(rs []figures) figures {
	mid := func(f func(figures) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		for i := range v { // insertion sort: a handful of runs
			for j := i; j > 0 && v[j] < v[j-1]; j-- {
				v[j], v[j-1] = v[j-1], v[j]
			}
		}
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	return figures{
		park:       mid(func(r figures) float64 { return r.park }),
		cancel:     mid(func(r figures) float64 { return r.cancel }),
		bytes:      mid(func(r figures) float64 { return r.bytes }),
		goroutines: int(mid(func(r figures) float64 { return float64(r.goroutines) })),
	}
}

var errFirst = errors.New("first attempt fails")

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// park submits n jobs that fail once and wait an hour, and waits until all
// are parked.
func park(s *scheduler.Scheduler, ctx context.Context, n int) ([]*job.Future[struct{}], time.Duration, error) {
	policy := job.NewPolicy(job.MaxAttempts(2), job.Wait(wait.Constant(time.Hour)), job.Jitter(jitter.None))
	op := func(context.Context) error { return errFirst }
	futures := make([]*job.Future[struct{}], n)
	start := time.Now()
	for i := range futures {
		futures[i] = s.Go(ctx, op, policy)
	}
	for s.Stats().Parked < n {
		if time.Since(start) > 5*time.Minute {
			return nil, 0, fmt.Errorf("only %d of %d jobs parked after 5m", s.Stats().Parked, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return futures, time.Since(start), nil
}

func reboundCtx(n int) (figures, error) {
	s := scheduler.New(scheduler.WithQueueSize(n))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h0 := heapAlloc()
	futures, parkTime, err := park(s, ctx, n)
	if err != nil {
		return figures{}, err
	}
	h1 := heapAlloc()
	start := time.Now()
	cancel()
	for _, f := range futures {
		<-f.Done()
	}
	cancelTime := time.Since(start)
	g := runtime.NumGoroutine()
	if st := s.Stats(); st.Canceled != uint64(n) || st.Parked != 0 {
		return figures{}, fmt.Errorf("after cancel: %+v", st)
	}
	return figures{float64(parkTime) / float64(n), float64(cancelTime) / float64(n), float64(h1-h0) / float64(n), g}, nil
}

func reboundFuture(n int) (figures, error) {
	s := scheduler.New(scheduler.WithQueueSize(n))
	defer s.Close()
	h0 := heapAlloc()
	futures, parkTime, err := park(s, context.Background(), n)
	if err != nil {
		return figures{}, err
	}
	h1 := heapAlloc()
	start := time.Now()
	for _, f := range futures {
		f.Cancel()
	}
	for _, f := range futures {
		<-f.Done()
	}
	cancelTime := time.Since(start)
	g := runtime.NumGoroutine()
	if st := s.Stats(); st.Canceled != uint64(n) || st.Parked != 0 {
		return figures{}, fmt.Errorf("after cancel: %+v", st)
	}
	return figures{float64(parkTime) / float64(n), float64(cancelTime) / float64(n), float64(h1-h0) / float64(n), g}, nil
}

func afterFunc(n int) (figures, error) {
	f := func() { panic("scale: an hour passed") }
	h0 := heapAlloc()
	timers := make([]*time.Timer, n)
	start := time.Now()
	for i := range timers {
		timers[i] = time.AfterFunc(time.Hour, f)
	}
	parkTime := time.Since(start)
	h1 := heapAlloc()
	start = time.Now()
	for _, t := range timers {
		if !t.Stop() {
			return figures{}, errors.New("a timer had fired")
		}
	}
	cancelTime := time.Since(start)
	return figures{float64(parkTime) / float64(n), float64(cancelTime) / float64(n), float64(h1-h0) / float64(n), runtime.NumGoroutine()}, nil
}
