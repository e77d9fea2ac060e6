package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// A job that fails twice with a 503 and then succeeds, driven by a clock
// mock: each retry is announced by OnRetry, the test waits until the job is
// parked (WaitSettled) and then moves the clock by the wait.
func ExampleSubmit() {
	mock := clock.NewMock()
	s := scheduler.New(scheduler.WithClock(mock))
	defer s.Close()

	retries := make(chan job.Event, 1)
	policy := job.NewPolicy(
		job.MaxAttempts(5),
		job.Wait(wait.Exponential(time.Second, 2, time.Minute)),
		job.Jitter(jitter.None),
		job.OnRetry(func(e job.Event) { retries <- e }),
	)
	calls := 0
	f := scheduler.Submit(s, context.Background(), func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("503 Service Unavailable")
		}
		return "hello", nil
	}, policy, job.Key("api.example.com"))

	ctx := context.Background()
	for range 2 {
		e := <-retries // an attempt failed and its retry is decided
		fmt.Printf("attempt %d: %v; retry in %v\n", e.Attempt, e.Err, e.Wait)
		_ = s.WaitSettled(ctx) // the job is parked, the heap's timer armed
		mock.Add(e.Wait)
	}
	v, err := f.Wait(ctx)
	fmt.Println(v, err, f.Attempts())
	// Output:
	// attempt 1: 503 Service Unavailable; retry in 1s
	// attempt 2: 503 Service Unavailable; retry in 2s
	// hello <nil> 3
}

// Map runs a function over every input as jobs and delivers the results as
// they complete; Index says which input each belongs to.
func ExampleMap() {
	s := scheduler.New(scheduler.WithWorkers(8))
	defer s.Close()

	hosts := []string{"a.example", "bb.example", "ccc.example"}
	results := make([]scheduler.Result[int], len(hosts))
	fetch := func(ctx context.Context, host string) (int, error) {
		if host == "bb.example" {
			return 0, job.Permanent(errors.New("404 Not Found"))
		}
		return len(host), nil
	}
	for r := range scheduler.Map(s, context.Background(), hosts, fetch) {
		results[r.Index] = r // in completion order
	}
	for i, r := range results {
		var je *job.Error
		if errors.As(r.Err, &je) {
			fmt.Printf("%s: %v (%v)\n", hosts[i], je.Reason, je.Last)
			continue
		}
		fmt.Printf("%s: %d\n", hosts[i], r.Value)
	}
	// Output:
	// a.example: 9
	// bb.example: job: permanent error (404 Not Found)
	// ccc.example: 11
}

// Shutdown lets the jobs in the scheduler finish, then returns; a job
// submitted afterwards ends at once with job.ErrClosed.
func ExampleScheduler_Shutdown() {
	s := scheduler.New()
	f := s.Go(context.Background(), func(ctx context.Context) error {
		fmt.Println("job runs")
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("Shutdown:", s.Shutdown(ctx))
	_, err := f.Wait(ctx)
	fmt.Println("job:", err)

	late := s.Go(context.Background(), func(ctx context.Context) error { return nil })
	_, err = late.Wait(ctx)
	fmt.Println("late job:", err, errors.Is(err, job.ErrClosed))
	// Output:
	// job runs
	// Shutdown: <nil>
	// job: <nil>
	// late job: job: scheduler closed after 0 attempts true
}
