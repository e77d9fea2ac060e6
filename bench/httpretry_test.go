package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// The HTTP scenario's per-request cost: GETs from 64 concurrent callers to
// an in-process server that answers every request 200, through each
// retrying client and, as the floor, a plain http.Client. Every client has 4
// attempts and exponential backoff from 10 ms over the same http.Transport
// configuration. The figures include the server's own work and allocations,
// the same for every client; cmd/httpbench measures the client alone (its
// server runs in a process of its own) and the flaky server with retries.
func BenchmarkHTTP(b *testing.B) {
	const callers = 64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	policy := job.NewPolicy(job.MaxAttempts(4), job.Wait(wait.Exponential(10*time.Millisecond, 2, time.Second)))
	clients := []struct {
		name string
		make func(base http.RoundTripper) (func(string) (*http.Response, error), func())
	}{
		{"plain", func(base http.RoundTripper) (func(string) (*http.Response, error), func()) {
			return (&http.Client{Transport: base}).Get, func() {}
		}},
		{"httpretry", func(base http.RoundTripper) (func(string) (*http.Response, error), func()) {
			tr := httpretry.NewTransport(base, httpretry.WithPolicy(policy))
			return (&http.Client{Transport: tr}).Get, func() { tr.Close() }
		}},
		{"httpretry-nokey", func(base http.RoundTripper) (func(string) (*http.Response, error), func()) {
			tr := httpretry.NewTransport(base, httpretry.WithPolicy(policy), httpretry.WithKey(func(*http.Request) string { return "" }))
			return (&http.Client{Transport: tr}).Get, func() { tr.Close() }
		}},
		{"retryablehttp", func(base http.RoundTripper) (func(string) (*http.Response, error), func()) {
			rc := retryablehttp.NewClient()
			rc.HTTPClient = &http.Client{Transport: base}
			rc.Logger = nil
			rc.RetryMax, rc.RetryWaitMin, rc.RetryWaitMax = 3, 10*time.Millisecond, time.Second
			return rc.Get, func() {}
		}},
		{"failsafehttp", func(base http.RoundTripper) (func(string) (*http.Response, error), func()) {
			rp := failsafehttp.NewRetryPolicyBuilder().WithBackoff(10*time.Millisecond, time.Second).WithMaxRetries(3).Build()
			return (&http.Client{Transport: failsafehttp.NewRoundTripper(base, rp)}).Get, func() {}
		}},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			base := &http.Transport{MaxIdleConnsPerHost: callers}
			defer base.CloseIdleConnections()
			get, end := c.make(base)
			defer end()
			b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := get(srv.URL)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// The retry layer alone: one request at a time through each client over a
// canned RoundTripper that answers 200 at once, no network and no server;
// the requests without a context of their own, then each with a deadline.
// What is left is what each layer adds to a request: for httpretry, the
// job, its first attempt run inline, the attempt's request context and the
// final body's wrapper.
func BenchmarkHTTPLayer(b *testing.B) {
	policy := job.NewPolicy(job.MaxAttempts(4), job.Wait(wait.Exponential(10*time.Millisecond, 2, time.Second)))
	canned := cannedTransport{}
	clients := []struct {
		name string
		rt   func() (http.RoundTripper, func())
	}{
		{"plain", func() (http.RoundTripper, func()) { return canned, func() {} }},
		{"httpretry", func() (http.RoundTripper, func()) {
			tr := httpretry.NewTransport(canned, httpretry.WithPolicy(policy))
			return tr, func() { tr.Close() }
		}},
		{"failsafehttp", func() (http.RoundTripper, func()) {
			rp := failsafehttp.NewRetryPolicyBuilder().WithBackoff(10*time.Millisecond, time.Second).WithMaxRetries(3).Build()
			return failsafehttp.NewRoundTripper(canned, rp), func() {}
		}},
	}
	for _, deadline := range []bool{false, true} {
		for _, c := range clients {
			name := c.name
			if deadline {
				name += "/deadline"
			}
			b.Run(name, func(b *testing.B) {
				rt, end := c.rt()
				defer end()
				req, err := http.NewRequest(http.MethodGet, "http://api.example.com/x", nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					r, cancel := req, context.CancelFunc(func() {})
					if deadline { // a request-scoped context, as most callers have
						var ctx context.Context
						ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
						r = req.WithContext(ctx)
					}
					resp, err := rt.RoundTrip(r)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					cancel()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		}
	}
}

// cannedTransport answers every request 200 with a short body.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok\n")), Request: r}, nil
}
