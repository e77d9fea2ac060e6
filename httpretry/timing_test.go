package httpretry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// The tests of this file run in synctest bubbles, on the in-memory network
// (memNet): time is the bubble's, so waits are exact and instant. Channels
// a handler blocks on must be made inside the bubble.

// arrivals is a handler that records when each request arrives, by path,
// and answers with answer(n) for the n-th request of a path.
type arrivals struct {
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu sync.Mutex
	at map[string][]time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.at == nil {
		a.at = make(map[string][]time.Time)
	}
	a.at[r.URL.Path] = append(a.at[r.URL.Path], time.Now())
	n := len(a.at[r.URL.Path])
	a.mu.Unlock()
	a.answer(n, w, r)
}

func (a *arrivals) times(path string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at[path]...)
}

// all returns every arrival, whatever the path.
func (a *arrivals) all() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ts []time.Time
	for _, at := range a.at {
		ts = append(ts, at...)
	}
	return ts
}

// bubble runs f in a synctest bubble with an in-memory network of the given
// hosts and a Transport over it (the default policy unless opts say
// otherwise), and ends them all before the bubble does.
func bubble(t *testing.T, hosts map[string]http.Handler, opts []httpretry.Option, f func(t *testing.T, tr *httpretry.Transport)) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(hosts)
		tr := httpretry.NewTransport(n.base, opts...)
		defer n.close()
		defer tr.Close()
		f(t, tr)
	})
}

func get(t *testing.T, tr http.RoundTripper, ctx context.Context, url string) (*http.Response, string, error) {
	return roundTrip(t, tr, newRequest(t, ctx, "GET", url, nil))
}

// TestRetryAfterSeconds: a 429's Retry-After in seconds is the least wait
// before the retry (the key's resumption is spread over a quarter of the
// pause after it).
func TestRetryAfterSeconds(t *testing.T) {
	a := &arrivals{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "8")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}}
	bubble(t, map[string]http.Handler{"a.test:80": a}, nil, func(t *testing.T, tr *httpretry.Transport) {
		resp, body, err := get(t, tr, context.Background(), "http://a.test/x")
		if err != nil || resp.StatusCode != 200 || body != "ok" || httpretry.Attempts(resp) != 2 {
			t.Fatalf("got %v, %v, %q; want 200 \"ok\" after 2 attempts", resp, err, body)
		}
		at := a.times("/x")
		if gap := at[1].Sub(at[0]); gap < 8*time.Second || gap > 10*time.Second {
			t.Errorf("retry came %v after the 429 with Retry-After: 8; want within [8s, 10s]", gap)
		}
	})
}

// TestRetryAfterHTTPDate: a hint given as an HTTP-date.
func TestRetryAfterHTTPDate(t *testing.T) {
	var notBefore time.Time
	a := &arrivals{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			notBefore = time.Now().Add(5 * time.Second).Truncate(time.Second)
			w.Header().Set("Retry-After", notBefore.UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}}
	bubble(t, map[string]http.Handler{"a.test:80": a}, nil, func(t *testing.T, tr *httpretry.Transport) {
		resp, _, err := get(t, tr, context.Background(), "http://a.test/x")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v; want 200", resp, err)
		}
		at := a.times("/x")
		if len(at) != 2 || at[1].Before(notBefore) || at[1].After(notBefore.Add(2*time.Second)) {
			t.Errorf("arrivals %v; want the retry at or soon after the date %v", at, notBefore)
		}
	})
}

// TestRetryAfterAboveMaxWait: a Retry-After longer than the policy's
// MaxWait returns the 429 at once, unchanged; the host stays paused, so
// the next request to it gives up without being sent.
func TestRetryAfterAboveMaxWait(t *testing.T) {
	a := &arrivals{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "come back in an hour")
	}}
	bubble(t, map[string]http.Handler{"a.test:80": a}, nil, func(t *testing.T, tr *httpretry.Transport) {
		start := time.Now()
		resp, body, err := get(t, tr, context.Background(), "http://a.test/x")
		if err != nil || resp.StatusCode != 429 || body != "come back in an hour" || httpretry.Attempts(resp) != 1 {
			t.Fatalf("got %v, %v, %q; want the 429 after 1 attempt", resp, err, body)
		}
		if resp.Header.Get("Retry-After") != "3600" {
			t.Errorf("the 429's headers changed: %v", resp.Header)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the 429 came back after %v; want at once", d)
		}
		_, _, err = get(t, tr, context.Background(), "http://a.test/y")
		if je := jobError(t, err); !errors.Is(err, job.ErrDeadline) || je.Attempts != 0 {
			t.Errorf("request to the paused host: %v; want ErrDeadline, no attempt", err)
		}
		if n := len(a.all()); n != 1 {
			t.Errorf("the host got %d requests, want 1", n)
		}
	})
}

// TestHostPause: a 429's Retry-After pauses its host for every request
// through the Transport, concurrent ones included, while another host is
// not delayed at all.
func TestHostPause(t *testing.T) {
	const pause = 10 * time.Second
	a := &arrivals{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" && n == 1 {
			w.Header().Set("Retry-After", strconv.Itoa(int(pause/time.Second)))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "a")
	}}
	b := &arrivals{answer: func(int, http.ResponseWriter, *http.Request) {}}
	hosts := map[string]http.Handler{"a.test:80": a, "b.test:80": b}
	bubble(t, hosts, nil, func(t *testing.T, tr *httpretry.Transport) {
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			if resp, _, err := get(t, tr, context.Background(), "http://a.test/first"); err != nil || resp.StatusCode != 200 {
				t.Errorf("first: %v, %v", resp, err)
			}
		})
		synctest.Wait() // the 429 has come: a.test is paused, the first request waits
		var bDone []time.Duration
		var mu sync.Mutex
		for i := range 5 {
			wg.Go(func() {
				if resp, _, err := get(t, tr, context.Background(), "http://a.test/other/"+strconv.Itoa(i)); err != nil || resp.StatusCode != 200 {
					t.Errorf("a.test/other: %v, %v", resp, err)
				}
			})
			wg.Go(func() {
				if resp, _, err := get(t, tr, context.Background(), "http://b.test/"+strconv.Itoa(i)); err != nil || resp.StatusCode != 200 {
					t.Errorf("b.test: %v, %v", resp, err)
				}
				mu.Lock()
				bDone = append(bDone, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		at := a.all()
		if len(at) != 7 {
			t.Fatalf("a.test got %d requests, want 7 (one 429, its retry, 5 others)", len(at))
		}
		first := a.times("/first")
		if len(first) != 2 || first[0] != start {
			t.Fatalf("/first was sent at %v, want twice, first at the start", first)
		}
		early := -1 // the request that got the 429 came before the pause
		for _, ts := range at {
			if ts.Sub(start) < pause {
				early++
			}
		}
		if early != 0 {
			t.Errorf("%d requests reached a.test less than %v after its 429, while it had said to pause", early, pause)
		}
		for _, d := range bDone {
			if d != 0 {
				t.Errorf("a request to b.test took %v; want no delay from a.test's pause", d)
			}
		}
		if len(bDone) != 5 {
			t.Errorf("%d requests to b.test ended, want 5", len(bDone))
		}
	})
}

// TestRateLimitOnSuccess: "RateLimit-Remaining: 0" on a success is still a
// success, and pauses the host until the reset.
func TestRateLimitOnSuccess(t *testing.T) {
	for _, tt := range []struct{ remaining, reset string }{
		{"Ratelimit-Remaining", "Ratelimit-Reset"},
		{"X-Ratelimit-Remaining", "X-Ratelimit-Reset"},
	} {
		t.Run(tt.remaining, func(t *testing.T) {
			a := &arrivals{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set(tt.remaining, "0")
					w.Header().Set(tt.reset, "30")
				}
				io.WriteString(w, "ok")
			}}
			bubble(t, map[string]http.Handler{"a.test:80": a}, nil, func(t *testing.T, tr *httpretry.Transport) {
				start := time.Now()
				for range 2 {
					resp, body, err := get(t, tr, context.Background(), "http://a.test/x")
					if err != nil || resp.StatusCode != 200 || body != "ok" || httpretry.Attempts(resp) != 1 {
						t.Fatalf("got %v, %v, %q; want 200 \"ok\" after 1 attempt", resp, err, body)
					}
				}
				at := a.times("/x")
				if at[0] != start || at[1].Sub(start) < 30*time.Second || at[1].Sub(start) > 38*time.Second {
					t.Errorf("requests at %v and %v after the start; want 0 and [30s, 38s]", at[0].Sub(start), at[1].Sub(start))
				}
			})
		})
	}
}

// TestCancelDuringWait: the request's context ending while a retry waits
// ends the request at once.
func TestCancelDuringWait(t *testing.T) {
	a := &arrivals{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}}
	bubble(t, map[string]http.Handler{"a.test:80": a}, nil, func(t *testing.T, tr *httpretry.Transport) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		start := time.Now()
		go func() {
			_, _, err := get(t, tr, ctx, "http://a.test/x")
			done <- err
		}()
		synctest.Wait() // the 503 has come, the retry waits
		time.Sleep(10 * time.Second)
		cancel()
		err := <-done
		if je := jobError(t, err); !errors.Is(err, context.Canceled) || je.Attempts != 1 {
			t.Errorf("%v; want context.Canceled after 1 attempt", err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("RoundTrip returned %v after the start, want 10s (when canceled)", d)
		}
		if n := len(a.all()); n != 1 {
			t.Errorf("the host got %d requests, want 1", n)
		}
	})
}

// TestFinalBodyAfterAttemptTimeout: the AttemptTimeout bounds an attempt up
// to its headers; the final response's body stays readable however long
// the caller takes.
func TestFinalBodyAfterAttemptTimeout(t *testing.T) {
	var release chan struct{} // made in the bubble, before any request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-headers" {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "head-")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "tail")
	})
	policy := job.NewPolicy(job.AttemptTimeout(time.Second))
	opts := []httpretry.Option{httpretry.WithPolicy(policy)}
	bubble(t, map[string]http.Handler{"a.test:80": h}, opts, func(t *testing.T, tr *httpretry.Transport) {
		release = make(chan struct{})
		resp, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", "http://a.test/slow-body", nil))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // the caller takes its time, far past the attempt's timeout
		close(release)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "head-tail" {
			t.Errorf("body %q, %v a minute after the headers; want \"head-tail\"", body, err)
		}

		// Headers later than the timeout: each attempt times out.
		_, err = tr.RoundTrip(newRequest(t, context.Background(), "GET", "http://a.test/slow-headers", nil))
		if je := jobError(t, err); !errors.Is(err, job.ErrExhausted) || !errors.Is(err, context.DeadlineExceeded) || je.Attempts != 4 {
			t.Errorf("%v; want ErrExhausted after 4 attempts, each ended by its timeout", err)
		}
	})
}

// TestKeyLimit: the scheduler's per-key limit holds across requests.
func TestKeyLimit(t *testing.T) {
	var release chan struct{} // made in the bubble, before any request
	var mu sync.Mutex
	inFlight := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight[r.Host]++
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight[r.Host]--
		mu.Unlock()
	})
	synctest.Test(t, func(t *testing.T) {
		release = make(chan struct{})
		n := newMemNet(map[string]http.Handler{"a.test:80": h, "b.test:80": h})
		defer n.close()
		s := scheduler.New(scheduler.WithKeyLimit(2))
		defer s.Close()
		tr := httpretry.NewTransport(n.base, httpretry.WithScheduler(s))
		defer tr.Close()
		var wg sync.WaitGroup
		for i := range 6 {
			for _, host := range []string{"a.test", "b.test"} {
				wg.Go(func() {
					if resp, _, err := get(t, tr, context.Background(), "http://"+host+"/"+strconv.Itoa(i)); err != nil || resp.StatusCode != 200 {
						t.Errorf("%s: %v, %v", host, resp, err)
					}
				})
			}
		}
		synctest.Wait()
		mu.Lock()
		got := map[string]int{"a.test": inFlight["a.test"], "b.test": inFlight["b.test"]}
		mu.Unlock()
		if got["a.test"] != 2 || got["b.test"] != 2 {
			t.Errorf("in flight: %v; want 2 per host (WithKeyLimit(2))", got)
		}
		close(release)
		wg.Wait()
	})
}

// TestFinalBodyFollowsRequestContext: the final response's body is read
// under the request's own context, however long after the attempt: the
// request's end ends the reading, and the body's Close ends the context the
// attempt's request carried. Also with an AttemptTimeout (the attempt's
// context then has a timer of its own between the request's context and
// the attempt's request's).
func TestFinalBodyFollowsRequestContext(t *testing.T) {
	for _, p := range []struct {
		name   string
		policy *job.Policy
	}{
		{"no timeout", job.NewPolicy()},
		{"AttemptTimeout", job.NewPolicy(job.AttemptTimeout(time.Second))},
	} {
		t.Run(p.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "head-")
				w.(http.Flusher).Flush()
				<-r.Context().Done() // the rest never comes
			})
			opts := []httpretry.Option{httpretry.WithPolicy(p.policy)}
			bubble(t, map[string]http.Handler{"a.test:80": h}, opts, func(t *testing.T, tr *httpretry.Transport) {
				// The request's end, a minute after RoundTrip has returned.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				resp, err := tr.RoundTrip(newRequest(t, ctx, "GET", "http://a.test/", nil))
				if err != nil {
					t.Fatal(err)
				}
				head := make([]byte, len("head-"))
				if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "head-" {
					t.Errorf("read %q, %v; want \"head-\"", head, err)
				}
				time.Sleep(time.Minute)
				if err := resp.Request.Context().Err(); err != nil {
					t.Errorf("the attempt's request context ended (%v) before the request's", err)
				}
				cancel()
				if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
					t.Errorf("reading after the request's end: %v; want context.Canceled", err)
				}
				resp.Body.Close()

				// Close, the request's context alive.
				resp, err = tr.RoundTrip(newRequest(t, context.Background(), "GET", "http://a.test/", nil))
				if err != nil {
					t.Fatal(err)
				}
				rctx := resp.Request.Context()
				time.Sleep(time.Minute)
				if err := rctx.Err(); err != nil {
					t.Errorf("the attempt's request context ended (%v) before the body was closed", err)
				}
				resp.Body.Close()
				if err := rctx.Err(); err != context.Canceled {
					t.Errorf("after Close, the attempt's request context's Err = %v, want context.Canceled", err)
				}
			})
		})
	}
}

// TestRequestContextFollowsCaller: an attempt's request carries the
// request's deadline and values and the attempt's number, and ends with the
// request's context with its cause, during the attempt and while the final
// body is read.
func TestRequestContextFollowsCaller(t *testing.T) {
	type key struct{}
	errGone := errors.New("the caller has gone")
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "head-")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(map[string]http.Handler{"a.test:80": h})
		defer n.close()
		var seen []context.Context
		rec := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen = append(seen, r.Context())
			return n.base.RoundTrip(r)
		})
		tr := httpretry.NewTransport(rec, httpretry.WithPolicy(job.NewPolicy(job.Wait(wait.Constant(time.Second)))))
		defer tr.Close()

		ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
		ctx, stop := context.WithTimeout(ctx, time.Hour)
		defer stop()
		deadline, _ := ctx.Deadline()
		resp, err := tr.RoundTrip(newRequest(t, ctx, "GET", "http://a.test/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 2 || httpretry.Attempts(resp) != 2 {
			t.Fatalf("%d attempts (Attempts %d), want 2", len(seen), httpretry.Attempts(resp))
		}
		for i, c := range seen {
			if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
				t.Errorf("attempt %d: Deadline() = %v, %v; want the request's, %v", i+1, d, ok, deadline)
			}
			if v := c.Value(key{}); v != "v" {
				t.Errorf("attempt %d: Value(key) = %v, want v", i+1, v)
			}
			if n := job.AttemptFrom(c); n != i+1 {
				t.Errorf("attempt %d: AttemptFrom = %d", i+1, n)
			}
		}
		head := make([]byte, len("head-"))
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // long after the attempt
		if err := seen[1].Err(); err != nil {
			t.Fatalf("the final attempt's request context ended (%v) before the request's", err)
		}
		cancel(errGone)
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, errGone) {
			t.Errorf("reading after the request's end: %v; want its cause", err)
		}
		if c := context.Cause(seen[1]); c != errGone {
			t.Errorf("Cause of the final attempt's request context = %v, want the request's cause", c)
		}
		resp.Body.Close()
	})
}

// roundTripFunc is a RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
