package job_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// A Retry-After-aware operation: the server answers 429 twice, asking to come
// back later; the hint is a lower bound on the wait. (A real server says
// seconds; the example keeps its real waits to milliseconds.)
func ExampleDo() {
	calls := 0
	fetch := func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", job.RetryAfter(errors.New("429 Too Many Requests"), 10*time.Millisecond)
		}
		return "200 OK", nil
	}

	body, err := job.Do(context.Background(), fetch,
		job.Wait(wait.Constant(0)), // the hints alone set the waits
		job.OnRetry(func(e job.Event) {
			fmt.Printf("attempt %d: %v; retrying in %v\n", e.Attempt, e.Err, e.Wait)
		}))
	fmt.Println(body, err, "after", calls, "attempts")
	// Output:
	// attempt 1: 429 Too Many Requests; retrying in 10ms
	// attempt 2: 429 Too Many Requests; retrying in 10ms
	// 200 OK <nil> after 3 attempts
}

// Wrap turns a function into a retrying function of the same type, like
// Python's backoff decorator.
func ExampleWrap() {
	failures := map[string]int{"eu.example.com": 2}
	lookup := func(ctx context.Context, host string) (string, error) {
		if failures[host] > 0 {
			failures[host]--
			return "", fmt.Errorf("lookup %s: temporary failure", host)
		}
		return "10.0.0.1", nil
	}

	resolve := job.Wrap(lookup, job.MaxAttempts(5), job.Wait(wait.Constant(0)))
	for _, host := range []string{"us.example.com", "eu.example.com"} {
		addr, err := resolve(context.Background(), host)
		fmt.Println(host, addr, err)
	}
	// Output:
	// us.example.com 10.0.0.1 <nil>
	// eu.example.com 10.0.0.1 <nil>
}

// Build a Policy once and pass it to every job: the cheap path. Per-job data
// such as the Key goes beside it.
func ExampleNewPolicy() {
	errNotFound := errors.New("404 Not Found")
	policy := job.NewPolicy(
		job.MaxAttempts(3),
		job.Wait(wait.Constant(0)),
		job.RetryIf(func(err error) bool { return !errors.Is(err, errNotFound) }),
	)
	fmt.Println(policy)

	for _, answer := range []error{errors.New("503 Service Unavailable"), errNotFound} {
		_, err := job.Do(context.Background(), func(ctx context.Context) (int, error) {
			return 0, answer
		}, policy, job.Key("api.example.com"))

		var e *job.Error
		errors.As(err, &e)
		fmt.Printf("%v -> %v, attempts: %d\n", e.Last, e.Reason, e.Attempts)
	}
	// Output:
	// Policy{MaxAttempts: 3, MaxElapsed: 0s, AttemptTimeout: 0s, MaxWait: 1h0m0s}
	// 503 Service Unavailable -> job: attempts exhausted, attempts: 3
	// 404 Not Found -> job: permanent error, attempts: 1
}

// Permanent stops the retries: an error that retrying cannot fix.
func ExamplePermanent() {
	calls := 0
	_, err := job.Do(context.Background(), func(ctx context.Context) (string, error) {
		calls++
		return "", job.Permanent(errors.New("401 Unauthorized"))
	})
	fmt.Println("attempts:", calls)
	fmt.Println("permanent:", errors.Is(err, job.ErrPermanent))

	var e *job.Error
	if errors.As(err, &e) {
		fmt.Println("last error:", e.Last)
	}
	// Output:
	// attempts: 1
	// permanent: true
	// last error: 401 Unauthorized
}
