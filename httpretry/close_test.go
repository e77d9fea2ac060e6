package httpretry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// TestCloseInFlight: Close ends every request in flight with an error,
// those waiting for a retry and those whose attempt runs, and later
// requests fail at once; no goroutine is left (TestMain's goleak).
func TestCloseInFlight(t *testing.T) {
	arrived := make(chan string, 8)
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Path
		if r.URL.Path == "/wait" {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		<-r.Context().Done() // hangs until the client gives up
	}))
	base := plainBase(t, false)
	tr := httpretry.NewTransport(base)
	defer tr.Close()

	paths := []string{"/hang", "/hang", "/hang", "/wait", "/wait"}
	errs := make(chan error, len(paths))
	for _, p := range paths {
		go func() {
			_, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL+p, nil))
			errs <- err
		}()
	}
	for range paths {
		<-arrived
	}
	tr.Close()
	for range paths {
		err := <-errs
		if !errors.Is(err, job.ErrClosed) {
			t.Errorf("request in flight at Close: %v, want job.ErrClosed", err)
		}
		jobError(t, err)
	}

	body := &closer{Reader: strings.NewReader("x")}
	_, err := tr.RoundTrip(newRequest(t, context.Background(), "POST", srv.URL+"/after", body))
	if !errors.Is(err, job.ErrClosed) || !body.closed.Load() {
		t.Errorf("request after Close: %v, body closed %v; want job.ErrClosed and the body closed", err, body.closed.Load())
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseSharedScheduler: with WithScheduler, Close ends the Transport,
// not the scheduler.
func TestCloseSharedScheduler(t *testing.T) {
	srv := server(t, &script{status: failFirst(0, 0)})
	s := scheduler.New()
	defer s.Close()
	tr := httpretry.NewTransport(plainBase(t, false), httpretry.WithScheduler(s))
	if resp, _, err := roundTrip(t, tr, newRequest(t, context.Background(), "GET", srv.URL, nil)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before Close: %v, %v", resp, err)
	}
	tr.Close()
	if _, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil)); !errors.Is(err, job.ErrClosed) {
		t.Errorf("after Close: %v, want job.ErrClosed", err)
	}
	v, err := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) { return 7, nil }).Wait(context.Background())
	if v != 7 || err != nil {
		t.Errorf("the shared scheduler after the Transport's Close: %v, %v; want 7, nil", v, err)
	}
}

// TestBodyReadableAfterClose: a response already returned stays readable
// after its Transport closes.
func TestBodyReadableAfterClose(t *testing.T) {
	srv := server(t, &script{status: failFirst(503, 1)})
	tr := httpretry.NewTransport(plainBase(t, false), httpretry.WithPolicy(fast))
	resp, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL+"/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "attempt 2" || err != nil {
		t.Errorf("body after Close: %q, %v; want \"attempt 2\"", b, err)
	}
}

// TestLogRedacted: the scheduler's log names the URL through its redactor
// and never shows a body.
func TestLogRedacted(t *testing.T) {
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "BODY-SECRET")
	}))
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := scheduler.New(scheduler.WithLogger(logger))
	defer s.Close()
	tr := httpretry.NewTransport(plainBase(t, false), httpretry.WithScheduler(s), httpretry.WithPolicy(fast))
	defer tr.Close()
	url := strings.Replace(srv.URL, "http://", "http://ada:pa55word@", 1) + "/items?api_key=hunter2&page=3"
	resp, _, err := roundTrip(t, tr, newRequest(t, context.Background(), "GET", url, nil))
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%v, %v", resp, err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "rebound: retry") || !strings.Contains(out, "rebound: gave up") || !strings.Contains(out, "/items?") || !strings.Contains(out, "502 Bad Gateway") {
		t.Errorf("log lacks the retries, the give-up, the URL or the status:\n%s", out)
	}
	for _, secret := range []string{"hunter2", "pa55word", "BODY-SECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestNoGoroutinePerAttempt: an attempt's request context, which follows
// the attempt's and the request's contexts, starts no goroutine to follow
// them (the standard library starts one for a parent it cannot register
// with): with a timer on the attempt, with a deadline on the request, and
// with an observer whose context for the attempt can end on its own.
func TestNoGoroutinePerAttempt(t *testing.T) {
	cases := []struct {
		name     string
		policy   *job.Policy
		deadline bool
		observer scheduler.Observer
	}{
		{"AttemptTimeout", job.NewPolicy(job.AttemptTimeout(time.Minute)), false, nil},
		{"request deadline", job.NewPolicy(), true, nil},
		{"observer's context", job.NewPolicy(), false, cancelingObserver{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stacks := make(chan string, 1)
			srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, 1<<20)
				stacks <- string(buf[:runtime.Stack(buf, true)])
			}))
			s := scheduler.New()
			defer s.Close()
			if tc.observer != nil {
				s.Observe(tc.observer)
			}
			tr := newTransport(t, plainBase(t, false), httpretry.WithPolicy(tc.policy), httpretry.WithScheduler(s))
			ctx, cancel := context.WithCancel(context.Background())
			if tc.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), time.Hour)
			}
			defer cancel()
			if _, _, err := roundTrip(t, tr, newRequest(t, ctx, "GET", srv.URL, nil)); err != nil {
				t.Fatal(err)
			}
			if st := <-stacks; strings.Contains(st, "context.(*cancelCtx).propagateCancel") {
				t.Errorf("a goroutine follows a context during the attempt:\n%s", st)
			}
		})
	}
}

// cancelingObserver gives each attempt a context that can end on its own,
// between the request's context and the attempt's.
type cancelingObserver struct{}

func (cancelingObserver) StartAttempt(ctx context.Context, _ string, _ int) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	_ = cancel // ended with the job's context, never before
	return ctx
}

func (cancelingObserver) Observe(context.Context, scheduler.Event) {}
