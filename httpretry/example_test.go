package httpretry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// flaky starts a local server that answers 503 to the first two requests,
// then "hello".
func flaky() *httptest.Server {
	var n atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "hello")
	}))
}

// The one-line client: every request is retried as the classifier says.
func ExampleNewClient() {
	srv := flaky()
	defer srv.Close()

	client := httpretry.NewClient(
		// Short waits for the example; the default starts at 200ms.
		httpretry.WithPolicy(job.NewPolicy(job.Wait(wait.Constant(10 * time.Millisecond)))),
	)
	defer client.Transport.(*httpretry.Transport).Close()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s after %d attempts: %s\n", resp.Status, httpretry.Attempts(resp), body)
	// Output: 200 OK after 3 attempts: hello
}

// Retry one call inline: Classify turns what the call gave into what the job
// should do (nil, a retry with the server's Retry-After as a hint, or a
// permanent error).
func ExampleClassify() {
	srv := flaky()
	defer srv.Close()
	client := srv.Client()

	get := func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			return "", job.Permanent(err)
		}
		resp, err := client.Do(req)
		if err := httpretry.Classify(req, resp, err); err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	body, err := job.Do(context.Background(), get, job.MaxAttempts(5), job.Wait(wait.Constant(10*time.Millisecond)))
	fmt.Println(body, err)
	// Output: hello <nil>
}

// Requests through a Transport on a scheduler of your own share its per-key
// limits, pauses and retry budget with everything else it runs.
func ExampleWithScheduler() {
	srv := flaky()
	defer srv.Close()

	s := scheduler.New(
		scheduler.WithKeyLimit(2), // at most 2 requests per host at once
		scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.2, MinPerSecond: 10}),
	)
	defer s.Shutdown(context.Background())
	tr := httpretry.NewTransport(srv.Client().Transport,
		httpretry.WithScheduler(s),
		httpretry.WithPolicy(job.NewPolicy(job.Wait(wait.Constant(10*time.Millisecond)))),
	)
	defer tr.Close() // does not shut s down
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", httpretry.Attempts(resp), "attempts; retries scheduled:", s.Stats().Retried)
	// Output: 200 OK after 3 attempts; retries scheduled: 2
}
