// Command quickstart is the shortest useful Rebound program, and the
// README's quick start: the code from "package main" on is the README's,
// character for character (a test checks). It submits one flaky operation
// to a scheduler and waits for its result, retrying with exponential
// backoff in between.
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
	"fmt"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() {
	ctx := context.Background()

	// A scheduler runs jobs on a pool of workers; a failed attempt waits on
	// a timer heap, not in a sleeping goroutine.
	s := scheduler.New(scheduler.WithWorkers(4))
	defer s.Shutdown(ctx) // drains: running, queued and parked jobs finish

	// A policy says how to retry. Build it once and share it between jobs.
	policy := job.NewPolicy(
		job.MaxAttempts(5), // 5 attempts in all, the first included
		job.Wait(wait.Exponential(50*time.Millisecond, 2, time.Second)),
		job.OnRetry(func(e job.Event) {
			fmt.Printf("attempt %d failed (%v); retrying in %v\n",
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

	f := scheduler.Submit(s, ctx, fetch, policy) // returns a future at once
	v, err := f.Wait(ctx)                        // blocks until the job has ended
	if err != nil {
		// A *job.Error says why the job gave up and keeps the last error.
		fmt.Println("gave up:", err)
		return
	}
	fmt.Printf("got %q after %d attempts\n", v, f.Attempts())
}
