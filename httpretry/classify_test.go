package httpretry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// outcome is what Classify's error tells a job to do.
type outcome string

const (
	succeed outcome = "success"
	final   outcome = "final"
	retried outcome = "retry"
)

func outcomeOf(err error) (outcome, time.Duration) {
	if err == nil {
		return succeed, -1
	}
	o := job.OutcomeOf(err)
	if isPermanent(err) {
		return final, o.Hint
	}
	return retried, o.Hint
}

// isPermanent reports whether a job gives up on err at once, with
// ErrPermanent: job.Do with an attempt left over tells (with a MaxWait that
// makes any hint end the job at once, with ErrDeadline).
func isPermanent(err error) bool {
	_, e := job.Do(context.Background(), func(context.Context) (int, error) { return 0, err },
		job.MaxAttempts(2), job.Wait(wait.Constant(0)), job.MaxWait(time.Nanosecond))
	return errors.Is(e, job.ErrPermanent)
}

// TestClassifyStatus: every status row of the classifier, for an idempotent
// and a non-idempotent request, with the hint each carries.
func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status      int
		header      http.Header
		get, post   outcome
		hint        time.Duration // -1: none
		keyedToPost bool          // POST with an Idempotency-Key: as GET
	}{
		{status: 200, get: succeed, post: succeed, hint: -1},
		{status: 204, get: succeed, post: succeed, hint: -1},
		{status: 301, get: succeed, post: succeed, hint: -1},
		{status: 304, get: succeed, post: succeed, hint: -1},
		{status: 400, get: final, post: final, hint: -1},
		{status: 401, get: final, post: final, hint: -1},
		{status: 403, get: final, post: final, hint: -1},
		{status: 404, get: final, post: final, hint: -1},
		{status: 409, get: final, post: final, hint: -1},
		{status: 422, get: final, post: final, hint: -1},
		{status: 408, get: retried, post: final, hint: -1},
		{status: 429, get: retried, post: retried, hint: -1},
		{status: 429, header: http.Header{"Retry-After": {"7"}}, get: retried, post: retried, hint: 7 * time.Second},
		{status: 429, header: http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"4"}}, get: retried, post: retried, hint: 4 * time.Second},
		{status: 429, header: http.Header{"Retry-After": {"2"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"9"}}, get: retried, post: retried, hint: 2 * time.Second},
		{status: 500, get: retried, post: final, hint: -1},
		{status: 501, get: final, post: final, hint: -1},
		{status: 502, get: retried, post: final, hint: -1},
		{status: 503, get: retried, post: final, hint: -1},
		{status: 503, header: http.Header{"Retry-After": {"3"}}, get: retried, post: final, hint: 3 * time.Second},
		{status: 503, header: http.Header{"Retry-After": {"garbage"}}, get: retried, post: final, hint: -1},
		{status: 504, get: retried, post: final, hint: -1},
		{status: 505, get: final, post: final, hint: -1},
		{status: 511, get: final, post: final, hint: -1},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Status: http.StatusText(tt.status), Header: tt.header}
		for _, c := range []struct {
			method, key string
			want        outcome
		}{
			{"GET", "", tt.get}, {"HEAD", "", tt.get}, {"OPTIONS", "", tt.get}, {"TRACE", "", tt.get},
			{"PUT", "", tt.get}, {"DELETE", "", tt.get},
			{"POST", "", tt.post}, {"PATCH", "", tt.post},
			{"POST", "Idempotency-Key", tt.get}, {"PATCH", "X-Idempotency-Key", tt.get},
		} {
			req := newRequest(t, context.Background(), c.method, "https://api.example.com/v1?token=s3cret", nil)
			if c.key != "" {
				req.Header.Set(c.key, "k-1")
			}
			err := httpretry.Classify(req, resp, nil)
			got, hint := outcomeOf(err)
			if got != c.want {
				t.Errorf("%d %v, %s %s: %s (%v), want %s", tt.status, tt.header, c.method, c.key, got, err, c.want)
				continue
			}
			if (got == retried || tt.status == 429 || tt.status == 503) && hint != tt.hint {
				t.Errorf("%d %v, %s: hint %v, want %v", tt.status, tt.header, c.method, hint, tt.hint)
			}
			if want := tt.status == 429 || tt.status == 503 && tt.hint >= 0; job.OutcomeOf(err).Throttled != want {
				t.Errorf("%d %v, %s: a throttle: %v, want %v", tt.status, tt.header, c.method, !want, want)
			}
			if err == nil {
				continue
			}
			var se *httpretry.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || se.Method != c.method {
				t.Errorf("%d, %s: error %v, want a *StatusError of %d", tt.status, c.method, err, tt.status)
				continue
			}
			if !strings.Contains(se.Error(), "GET https://api.example.com/v1?token=s3cret: ") && c.method == "GET" {
				t.Errorf("StatusError %q does not name the URL", se.Error())
			}
		}
	}
}

// TestClassifyHTTPDate: a Retry-After given as an HTTP-date is a hint
// relative to now.
func TestClassifyHTTPDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second)
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {at.Format(http.TimeFormat)}}}
	req := newRequest(t, context.Background(), "GET", "http://h/", nil)
	_, hint := outcomeOf(httpretry.Classify(req, resp, nil))
	if hint < 80*time.Second || hint > 90*time.Second {
		t.Errorf("hint of a date 90s ahead = %v, want within (80s, 90s]", hint)
	}
}

// TestClassifyErrors: transport errors, each obtained from a real failure.
func TestClassifyErrors(t *testing.T) {
	ctx := context.Background()
	plain := plainBase(t, true)

	// A dial error: nothing listens.
	dialErr := func() error {
		_, err := plain.RoundTrip(newRequest(t, ctx, "GET", "http://"+closedPort(t)+"/", nil))
		return err
	}()
	// The server read the request and hung up: maybe it acted on it.
	hangUp := newRawListener(t, func(_ int, c *net.TCPConn) { readRequest(c) })
	eofErr := func() error {
		_, err := plain.RoundTrip(newRequest(t, ctx, "GET", hangUp.url(), nil))
		return err
	}()
	// A certificate nobody trusts.
	tlsSrv := tlsServer(t, http.NotFoundHandler(), false)
	certErr := func() error {
		_, err := plain.RoundTrip(newRequest(t, ctx, "GET", tlsSrv.URL, nil))
		return err
	}()
	// A redirect loop, through http.Client.
	var loop *httptest.Server
	loop = server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	}))
	redirectErr := func() error {
		_, err := (&http.Client{Transport: plain}).Do(newRequest(t, ctx, "GET", loop.URL, nil))
		return err
	}()
	// An unsupported scheme.
	schemeErr := func() error {
		_, err := plain.RoundTrip(newRequest(t, ctx, "GET", "ftp://example.com/file", nil))
		return err
	}()
	// A canceled request.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	cancelReq := newRequest(t, canceled, "GET", "http://"+closedPort(t)+"/", nil)
	_, cancelErr := plain.RoundTrip(cancelReq)
	// An attempt's own timeout: the request's context has expired.
	expired, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	timeoutReq := newRequest(t, expired, "GET", "http://"+closedPort(t)+"/", nil)
	_, timeoutErr := plain.RoundTrip(timeoutReq)

	for _, e := range []error{dialErr, eofErr, certErr, redirectErr, schemeErr, cancelErr, timeoutErr} {
		if e == nil {
			t.Fatal("a failure did not fail")
		}
	}
	var cv *tls.CertificateVerificationError
	if !errors.As(certErr, &cv) {
		t.Fatalf("certificate error %v is not a *tls.CertificateVerificationError", certErr)
	}

	tests := []struct {
		name      string
		req       *http.Request // nil: a request to the same URL
		err       error
		get, post outcome
	}{
		{"dial error (unsent)", nil, dialErr, retried, retried},
		{"EOF after the request was read", nil, eofErr, retried, final},
		{"io.ErrUnexpectedEOF", nil, io.ErrUnexpectedEOF, retried, final},
		{"certificate", nil, certErr, final, final},
		{"too many redirects", nil, redirectErr, final, final},
		{"unsupported scheme", newRequest(t, ctx, "GET", "ftp://example.com/file", nil), schemeErr, final, final},
		{"no host", &http.Request{Method: "GET", URL: mustParse(t, "http:///path"), Header: http.Header{}}, errors.New("http: no Host in request URL"), final, final},
		{"request context canceled", cancelReq, cancelErr, final, final},
		{"attempt timeout", timeoutReq, timeoutErr, retried, final},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "POST"} {
			req := tt.req
			if req == nil {
				req = newRequest(t, ctx, method, "http://example.com/", nil)
			} else {
				req = req.Clone(req.Context())
				req.Method = method
			}
			want := tt.get
			if method == "POST" {
				want = tt.post
			}
			err := httpretry.Classify(req, nil, tt.err)
			if got, _ := outcomeOf(err); got != want {
				t.Errorf("%s, %s: %s, want %s (%v)", tt.name, method, got, want, tt.err)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: Classify's error %v does not wrap %v", tt.name, err, tt.err)
			}
		}
	}
	// With an Idempotency-Key, a POST is retried like a GET.
	req := newRequest(t, ctx, "POST", "http://example.com/", nil)
	req.Header.Set("Idempotency-Key", "order-1")
	if got, _ := outcomeOf(httpretry.Classify(req, nil, eofErr)); got != retried {
		t.Errorf("POST with Idempotency-Key after EOF: %s, want %s", got, retried)
	}
}

// TestRateLimitPause: the rate-limit headers, each form.
func TestRateLimitPause(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	epoch := func(d time.Duration) string { return itoa(now.Add(d).Unix()) }
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"none", http.Header{}, 0, false},
		{"remaining 0, reset in seconds", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"30"}}, 30 * time.Second, true},
		{"blanks", http.Header{"Ratelimit-Remaining": {" 0\t"}, "Ratelimit-Reset": {"\t30 "}}, 30 * time.Second, true},
		{"fraction", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"1.25"}}, 1250 * time.Millisecond, true},
		{"remaining 3", http.Header{"Ratelimit-Remaining": {"3"}, "Ratelimit-Reset": {"30"}}, 0, false},
		{"no reset", http.Header{"Ratelimit-Remaining": {"0"}}, 0, false},
		{"no remaining", http.Header{"Ratelimit-Reset": {"30"}}, 0, false},
		{"negative reset", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"-5"}}, 0, false},
		{"garbage reset", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"soon"}}, 0, false},
		{"X- pair, delta", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"12"}}, 12 * time.Second, true},
		{"X- pair, epoch", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {epoch(42 * time.Second)}}, 42 * time.Second, true},
		{"X- pair, epoch past", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {epoch(-time.Hour)}}, 0, true},
		{"10^9 is seconds", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"1000000000"}}, 1e9 * time.Second, true},
		{"huge saturates", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"99999999999999999999999"}}, 1<<63 - 1, true},
		{"both pairs: the later", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"5"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"8"}}, 8 * time.Second, true},
		{"one pair says go on", http.Header{"Ratelimit-Remaining": {"10"}, "Ratelimit-Reset": {"5"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"8"}}, 8 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := httpretry.RateLimitPause(tt.header, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: RateLimitPause = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestClassifyMisuse: the panics, with the package's prefix.
func TestClassifyMisuse(t *testing.T) {
	req := newRequest(t, context.Background(), "GET", "http://h/", nil)
	for name, f := range map[string]func(){
		"nil request":        func() { httpretry.Classify(nil, &http.Response{StatusCode: 200}, nil) },
		"neither":            func() { httpretry.Classify(req, nil, nil) },
		"WithScheduler(nil)": func() { httpretry.WithScheduler(nil) },
		"WithBodyLimit(-1)":  func() { httpretry.WithBodyLimit(-1) },
	} {
		msg := panicOf(f)
		if !strings.HasPrefix(msg, "httpretry: ") {
			t.Errorf("%s: panic %q, want one starting with \"httpretry: \"", name, msg)
		}
	}
}
