// Command parked measures the memory a parked retry costs (scenario 4): n
// jobs fail their first attempt and wait hold before their retry; while they
// wait, it forces a GC and reads runtime.MemStats. Bytes per parked job =
// growth of (HeapAlloc + StackInuse) over a baseline taken just before the
// jobs start, divided by n. Stacks count because the goroutine-per-retry
// design keeps its state there.
//
// Each design runs in a child process of its own (the same binary with
// -mode), so that no design inherits another's heap or stack cache:
//
//	go run ./cmd/parked              # every mode, n=100000, hold=2s
//	go run ./cmd/parked -n 1000 -hold 100ms
//	go run ./cmd/parked -mode rebound
//
// Modes:
//
//	rebound        Rebound's scheduler, one shared Policy, context.Background
//	rebound-ctx    the same with a cancelable context per job
//	go-cenkalti    a goroutine per operation running cenkalti/backoff's Retry
//	go-jobdo       a goroutine per operation running Rebound's inline job.Do
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

var modes = []string{"rebound", "rebound-ctx", "go-cenkalti", "go-jobdo"}

func main() {
	n := flag.Int("n", 100_000, "jobs to park")
	hold := flag.Duration("hold", 2*time.Second, "how long each job stays parked")
	mode := flag.String("mode", "", "run one mode in this process ("+strings.Join(modes, ", ")+"); empty: each in a child process")
	flag.Parse()

	if *mode != "" {
		r, err := measure(*mode, *n, *hold)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parked:", err)
			os.Exit(1)
		}
		fmt.Println(r.encode())
		return
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parked:", err)
		os.Exit(1)
	}
	fmt.Printf("parked: n=%d hold=%v, %s, GOMAXPROCS=%d\n\n", *n, *hold, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("| mode | bytes/job | heap B/job | stack B/job | goroutines while parked | all done after |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	results := map[string]result{}
	for _, m := range modes {
		out, err := exec.Command(self, "-mode", m, "-n", strconv.Itoa(*n), "-hold", hold.String()).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "parked: mode %s: %v\n", m, err)
			os.Exit(1)
		}
		r, err := decode(strings.TrimSpace(string(out)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "parked: mode %s: %v\n", m, err)
			os.Exit(1)
		}
		results[m] = r
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %d | %v |\n", m, r.perJob(), r.heap/float64(r.n), r.stack/float64(r.n), r.goroutines, r.done.Round(time.Millisecond))
	}
	fmt.Println()
	base := results["go-cenkalti"].perJob()
	for _, m := range []string{"rebound", "rebound-ctx"} {
		fmt.Printf("%s / go-cenkalti = %.3f (1/%.1f); goal <= 1/12 (0.083)\n", m, results[m].perJob()/base, base/results[m].perJob())
	}
}

type result struct {
	n           int
	heap, stack float64 // growth while parked, bytes
	goroutines  int
	done        time.Duration // from the first submission to the last result
}

func (r result) perJob() float64 { return (r.heap + r.stack) / float64(r.n) }

func (r result) encode() string {
	return fmt.Sprintf("%d %.0f %.0f %d %d", r.n, r.heap, r.stack, r.goroutines, r.done)
}

func decode(s string) (r result, err error) {
	var done int64
	_, err = fmt.Sscanf(s, "%d %f %f %d %d", &r.n, &r.heap, &r.stack, &r.goroutines, &done)
	r.done = time.Duration(done)
	return r, err
}

var errFirst = errors.New("first attempt fails")

// snapshot returns HeapAlloc and StackInuse after a full GC.
func snapshot() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

func measure(mode string, n int, hold time.Duration) (result, error) {
	switch mode {
	case "rebound", "rebound-ctx":
		return measureRebound(n, hold, mode == "rebound-ctx")
	case "go-cenkalti", "go-jobdo":
		return measureGoroutines(n, hold, mode == "go-jobdo")
	}
	return result{}, fmt.Errorf("unknown mode %q", mode)
}

// measureRebound parks n jobs on a scheduler. The operation fails on its
// first attempt and succeeds on its retry, hold later.
func measureRebound(n int, hold time.Duration, ctxPerJob bool) (result, error) {
	ctx := context.Background()
	s := scheduler.New(scheduler.WithQueueSize(n))
	defer s.Shutdown(ctx)
	policy := job.NewPolicy(job.MaxAttempts(2), job.Wait(wait.Constant(hold)), job.Jitter(jitter.None))
	op := func(ctx context.Context) (int, error) {
		if job.AttemptFrom(ctx) == 1 {
			return 0, errFirst
		}
		return 1, nil
	}

	heap0, stack0 := snapshot()
	start := time.Now()
	futures := make([]*job.Future[int], n)
	var cancels []context.CancelFunc
	if ctxPerJob {
		cancels = make([]context.CancelFunc, n)
	}
	for i := range futures {
		jctx := ctx
		if ctxPerJob {
			jctx, cancels[i] = context.WithCancel(ctx)
		}
		futures[i] = scheduler.Submit(s, jctx, op, policy)
	}
	for s.Stats().Parked < n {
		if time.Since(start) > hold {
			return result{}, fmt.Errorf("only %d of %d jobs parked after %v: raise -hold", s.Stats().Parked, n, hold)
		}
		time.Sleep(time.Millisecond)
	}
	heap1, stack1 := snapshot()
	r := result{n: n, heap: float64(heap1) - float64(heap0), stack: float64(stack1) - float64(stack0), goroutines: runtime.NumGoroutine()}
	if st := s.Stats(); st.Parked != n {
		return result{}, fmt.Errorf("%d of %d jobs still parked after the GC: raise -hold", st.Parked, n)
	}

	for i, f := range futures {
		if v, err := f.Wait(ctx); v != 1 || err != nil {
			return result{}, fmt.Errorf("job %d: %d, %v", i, v, err)
		}
		if ctxPerJob {
			cancels[i]()
		}
	}
	r.done = time.Since(start)
	runtime.KeepAlive(futures)
	return r, nil
}

// measureGoroutines parks n operations, each on a goroutine of its own that
// runs a retry loop (cenkalti's Retry, or Rebound's job.Do) and sleeps on a
// timer between attempts.
func measureGoroutines(n int, hold time.Duration, jobDo bool) (result, error) {
	ctx := context.Background()
	policy := job.NewPolicy(job.MaxAttempts(2), job.Wait(wait.Constant(hold)), job.Jitter(jitter.None))
	var failed atomic.Int64
	var wg sync.WaitGroup

	heap0, stack0 := snapshot()
	start := time.Now()
	results := make([]int, n)
	errs := make([]error, n)
	wg.Add(n)
	for i := range n {
		if jobDo {
			go func() {
				defer wg.Done()
				results[i], errs[i] = job.Do(ctx, func(ctx context.Context) (int, error) {
					if job.AttemptFrom(ctx) == 1 {
						failed.Add(1)
						return 0, errFirst
					}
					return 1, nil
				}, policy)
			}()
			continue
		}
		go func() {
			defer wg.Done()
			attempt := 0
			results[i], errs[i] = backoff.Retry(ctx, func() (int, error) {
				attempt++
				if attempt == 1 {
					failed.Add(1)
					return 0, errFirst
				}
				return 1, nil
			}, backoff.WithBackOff(backoff.NewConstantBackOff(hold)), backoff.WithMaxTries(2))
		}()
	}
	for failed.Load() < int64(n) {
		if time.Since(start) > hold {
			return result{}, fmt.Errorf("only %d of %d operations failed once after %v: raise -hold", failed.Load(), n, hold)
		}
		time.Sleep(time.Millisecond)
	}
	// Every operation has failed once; give the last ones a moment to reach
	// their timer.
	time.Sleep(min(hold/10, 50*time.Millisecond))
	heap1, stack1 := snapshot()
	r := result{n: n, heap: float64(heap1) - float64(heap0), stack: float64(stack1) - float64(stack0), goroutines: runtime.NumGoroutine()}
	if time.Since(start) >= hold {
		return result{}, fmt.Errorf("measured after the first retries were due: raise -hold")
	}

	wg.Wait()
	r.done = time.Since(start)
	for i := range n {
		if results[i] != 1 || errs[i] != nil {
			return result{}, fmt.Errorf("operation %d: %d, %v", i, results[i], errs[i])
		}
	}
	return r, nil
}
