package job_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// message is a queued job as a queue (SQS, Kafka, a database table) stores
// it: the payload, and what the consumer must remember between deliveries.
type message struct {
	id       string
	enqueued time.Time     // MaxElapsed counts from here
	due      time.Time     // not delivered before
	attempts int           // attempts made so far
	prev     time.Duration // the last base delay (what Decorrelated grows from)
	last     error         // the last attempt's error
}

// The stepping API runs a Policy on a queue of your own: the queue keeps a
// job between attempts and redelivers it when due, and a Run, resumed from
// what the message carries, decides after each attempt. Here a slice stands
// in for the queue and a mock clock for its time.
func Example_stepping() {
	clk := clock.NewMock()
	env := &job.Env{Clock: clk, Epoch: clk.Now()} // the Epoch must be a time on Clock
	policy := job.NewPolicy(
		job.MaxAttempts(3),
		job.MaxElapsed(time.Minute),
		job.Wait(wait.Exponential(time.Second, 2, 0)),
		job.Jitter(jitter.None), // for a fixed Output; a real consumer keeps jitter
	)

	// The consumer's work, one message at a time.
	handle := func(ctx context.Context, id string) (string, error) {
		n := job.AttemptFrom(ctx)
		switch id {
		case "order-2": // a flaky dependency: works on the third attempt
			if n < 3 {
				return "", errors.New("connection reset")
			}
		case "order-3": // throttled once: the hint is a lower bound on the wait
			if n == 1 {
				return "", job.RetryAfter(errors.New("429 Too Many Requests"), 10*time.Second)
			}
		case "order-4": // down for good
			return "", errors.New("503 Service Unavailable")
		case "order-5": // a bad message: retrying cannot help
			return "", job.Permanent(errors.New("malformed payload"))
		}
		return "shipped", nil
	}

	var queue []message
	for _, id := range []string{"order-1", "order-2", "order-3", "order-4", "order-5"} {
		queue = append(queue, message{id: id, enqueued: clk.Now(), due: clk.Now()})
	}
	start := clk.Now()
	ctx := context.Background()
	for len(queue) > 0 {
		// Receive the message due first; the queue waits until it is due.
		i := 0
		for j := range queue {
			if queue[j].due.Before(queue[i].due) {
				i = j
			}
		}
		m := queue[i]
		queue = slices.Delete(queue, i, i+1)
		if m.due.After(clk.Now()) {
			clk.Set(m.due)
		}
		at := clk.Since(start)

		var r job.Run
		r.Resume(policy, m.id, env, m.enqueued, m.attempts, m.prev, m.last)
		if r.Late() { // delivered past its MaxElapsed: no attempt
			fmt.Printf("%3v %s: %v\n", at, m.id, r.Fail(job.ErrDeadline))
			continue
		}
		n := r.Begin()
		v, o := job.Call(ctx, &r, nil, job.OpFunc[string](func(ctx context.Context) (string, error) {
			return handle(ctx, m.id)
		}))
		d := r.Judge(o, nil)
		switch {
		case d.Succeeded():
			r.Succeeded() // OnSuccess, if the policy has one
			fmt.Printf("%3v %s attempt %d: %s\n", at, m.id, n, v)
		case d.Retry:
			r.Retrying(d.Wait) // OnRetry
			fmt.Printf("%3v %s attempt %d: %v; redeliver in %v\n", at, m.id, n, o.Err, d.Wait)
			// Put it back, as the queue's retry would: due after the wait,
			// with the run's state.
			m.due, m.attempts, m.prev, m.last = clk.Now().Add(d.Wait), r.Attempts(), r.Prev(), r.Last()
			queue = append(queue, m)
		default:
			err := r.Fail(d.Reason)
			r.GaveUp(err) // OnGiveUp
			fmt.Printf("%3v %s attempt %d: %v\n", at, m.id, n, err)
		}
	}
	// Output:
	//  0s order-1 attempt 1: shipped
	//  0s order-2 attempt 1: connection reset; redeliver in 1s
	//  0s order-3 attempt 1: 429 Too Many Requests; redeliver in 10s
	//  0s order-4 attempt 1: 503 Service Unavailable; redeliver in 1s
	//  0s order-5 attempt 1: job: permanent error after 1 attempt: malformed payload
	//  1s order-2 attempt 2: connection reset; redeliver in 2s
	//  1s order-4 attempt 2: 503 Service Unavailable; redeliver in 2s
	//  3s order-2 attempt 3: shipped
	//  3s order-4 attempt 3: job: attempts exhausted after 3 attempts in 3s: 503 Service Unavailable
	// 10s order-3 attempt 2: shipped
}
