// Command quickstart is the shortest useful Rebound program: it submits one
// flaky operation to a scheduler and waits for its result, retrying with
// exponential backoff in between.
//
//	go run ./examples/quickstart
//
// The operation fails twice and then succeeds, so the output shows two
// retries and the value of the third attempt. Replace fetch with a real
// call (an HTTP request, a database query) and keep the rest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, out io.Writer) int {
	if err := flag.NewFlagSet("quickstart", flag.ContinueOnError).Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()

	// A scheduler runs jobs on a pool of workers. A failed attempt waits on
	// a timer heap, not in a sleeping goroutine. Shut it down when done.
	s := scheduler.New(scheduler.WithWorkers(4))
	defer s.Shutdown(ctx)

	// A policy says how to retry. Build it once and share it between jobs.
	policy := job.NewPolicy(
		job.MaxAttempts(5), // 5 attempts in all, the first included
		job.Wait(wait.Exponential(50*time.Millisecond, 2, time.Second)),
		job.OnRetry(func(e job.Event) {
			fmt.Fprintf(out, "attempt %d failed (%v); retrying in %v\n",
				e.Attempt, e.Err, e.Wait.Round(time.Millisecond))
		}),
	)

	// fetch stands for any call that can fail for a while. job.AttemptFrom
	// tells it which attempt it is: here the first two fail.
	fetch := func(ctx context.Context) (string, error) {
		if n := job.AttemptFrom(ctx); n < 3 {
			return "", errors.New("service unavailable")
		}
		return "hello, world", nil
	}

	// Submit returns a future at once; Wait blocks until the job has ended.
	f := scheduler.Submit(s, ctx, fetch, policy)
	v, err := f.Wait(ctx)
	if err != nil {
		// A *job.Error says why the job gave up and keeps the last error.
		fmt.Fprintln(out, "gave up:", err)
		return 1
	}
	fmt.Fprintf(out, "got %q after %d attempts\n", v, f.Attempts())
	return 0
}
