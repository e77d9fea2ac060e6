package httpretry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
)

// protocols runs f against a test server over HTTP/1.1 and over HTTP/2
// (TLS), with a base transport that talks to it.
func protocols(t *testing.T, h http.Handler, f func(t *testing.T, srv *httptest.Server, base http.RoundTripper)) {
	t.Run("HTTP/1.1", func(t *testing.T) {
		srv := server(t, h)
		f(t, srv, plainBase(t, false))
	})
	t.Run("HTTP/2", func(t *testing.T) {
		srv := tlsServer(t, h, true)
		base := srv.Client().Transport.(*http.Transport)
		t.Cleanup(base.CloseIdleConnections)
		f(t, srv, base)
	})
}

// TestTransportStatuses: every status row of the classifier and every
// idempotency rule, through a Transport against a real server: how many
// attempts reach the server, and which response the caller gets (on a
// give-up, the last one unchanged).
func TestTransportStatuses(t *testing.T) {
	const always = 100
	tests := []struct {
		method   string
		header   string // an idempotency header to set
		status   int
		failures int // the first failures answers are status, then 200
		retryAll bool
		attempts int
		want     int // the status the caller gets
	}{
		{"GET", "", 200, always, false, 1, 200},
		{"GET", "", 301, always, false, 1, 301},
		{"GET", "", 400, always, false, 1, 400},
		{"GET", "", 401, always, false, 1, 401},
		{"GET", "", 404, always, false, 1, 404},
		{"GET", "", 501, always, false, 1, 501},
		{"GET", "", 505, always, false, 1, 505},
		{"GET", "", 408, always, false, 4, 408},
		{"GET", "", 429, always, false, 4, 429},
		{"GET", "", 500, always, false, 4, 500},
		{"GET", "", 502, always, false, 4, 502},
		{"GET", "", 503, always, false, 4, 503},
		{"GET", "", 504, always, false, 4, 504},
		{"GET", "", 503, 2, false, 3, 200},
		{"HEAD", "", 503, 1, false, 2, 200},
		{"OPTIONS", "", 502, 1, false, 2, 200},
		{"TRACE", "", 504, 1, false, 2, 200},
		{"PUT", "", 500, 1, false, 2, 200},
		{"DELETE", "", 408, 1, false, 2, 200},
		{"POST", "", 429, 2, false, 3, 200},
		{"PATCH", "", 429, 1, false, 2, 200},
		{"POST", "", 503, always, false, 1, 503},
		{"POST", "", 500, always, false, 1, 500},
		{"PATCH", "", 502, always, false, 1, 502},
		{"POST", "", 408, always, false, 1, 408},
		{"POST", "Idempotency-Key", 503, 1, false, 2, 200},
		{"PATCH", "X-Idempotency-Key", 500, always, false, 4, 500},
		{"POST", "", 503, 2, true, 3, 200},
		{"PATCH", "", 504, always, true, 4, 504},
		{"POST", "", 404, always, true, 1, 404},
	}
	sc := &script{status: func(path string, n int, _ *http.Request) int {
		i, _ := strconv.Atoi(path[strings.LastIndexByte(path, '/')+1:])
		if n <= tests[i].failures {
			return tests[i].status
		}
		return http.StatusOK
	}}
	protocols(t, sc, func(t *testing.T, srv *httptest.Server, base http.RoundTripper) {
		plain := newTransport(t, base)
		all := newTransport(t, base, httpretry.WithRetryNonIdempotent())
		for i, tt := range tests {
			tr := plain
			if tt.retryAll {
				tr = all
			}
			path := fmt.Sprintf("/h%d/%d", protoOf(srv), i)
			req := newRequest(t, context.Background(), tt.method, srv.URL+path, nil)
			if tt.header != "" {
				req.Header.Set(tt.header, "key-"+path)
			}
			resp, body, err := roundTrip(t, tr, req)
			name := fmt.Sprintf("%s %s %d x%d", tt.method, tt.header, tt.status, min(tt.failures, 9))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if resp.StatusCode != tt.want || sc.count(path) != tt.attempts || httpretry.Attempts(resp) != tt.attempts {
				t.Errorf("%s: got %d after %d attempts (Attempts %d), want %d after %d",
					name, resp.StatusCode, sc.count(path), httpretry.Attempts(resp), tt.want, tt.attempts)
			}
			if want := "attempt " + strconv.Itoa(tt.attempts); tt.method != "HEAD" && body != want {
				t.Errorf("%s: body %q, want the last attempt's, %q", name, body, want)
			}
			if want := protoOf(srv); resp.ProtoMajor != want {
				t.Errorf("%s: response over HTTP/%d", name, resp.ProtoMajor)
			}
		}
	})
}

func protoOf(srv *httptest.Server) int {
	if srv.EnableHTTP2 {
		return 2
	}
	return 1
}

// TestTransportErrors: transport errors from real failures. A give-up after
// them is a *job.Error that reaches the net error; an unsent request is
// retried whatever its method, a sent one only when idempotent.
func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	base := plainBase(t, true) // a connection per attempt: the listeners count attempts

	t.Run("connection refused", func(t *testing.T) {
		tr := newTransport(t, base)
		url := "http://" + closedPort(t) + "/"
		for _, method := range []string{"GET", "POST"} {
			_, _, err := roundTrip(t, tr, newRequest(t, ctx, method, url, strings.NewReader("x")))
			je := jobError(t, err)
			var op *net.OpError
			if je.Attempts != 4 || !errors.Is(err, job.ErrExhausted) || !errors.As(err, &op) || op.Op != "dial" {
				t.Errorf("%s: %v after %d attempts; want ErrExhausted after 4, reaching a dial *net.OpError", method, err, je.Attempts)
			}
		}
	})

	t.Run("closed after reading the request", func(t *testing.T) {
		for _, tt := range []struct {
			method, header string
			attempts       int
			reason         error
		}{
			{"GET", "", 4, job.ErrExhausted},
			{"POST", "", 1, job.ErrPermanent},
			{"POST", "Idempotency-Key", 4, job.ErrExhausted},
		} {
			l := newRawListener(t, func(_ int, c *net.TCPConn) { readRequest(c) })
			tr := newTransport(t, base)
			req := newRequest(t, ctx, tt.method, l.url(), strings.NewReader("order"))
			if tt.header != "" {
				req.Header.Set(tt.header, "order-1")
			}
			_, _, err := roundTrip(t, tr, req)
			je := jobError(t, err)
			if je.Attempts != tt.attempts || int(l.conns.Load()) != tt.attempts || !errors.Is(err, tt.reason) || !errors.Is(err, io.EOF) {
				t.Errorf("%s %s: %v after %d attempts (%d connections); want %v after %d, reaching io.EOF",
					tt.method, tt.header, err, je.Attempts, l.conns.Load(), tt.reason, tt.attempts)
			}
		}
	})

	t.Run("reset mid-response", func(t *testing.T) {
		tests := []struct {
			name, method string
			partial      string // what the first two connections get before the reset
			attempts     int    // connections made
			status       int    // 0: RoundTrip fails
			bodyErr      bool   // reading the final body fails
		}{
			{"GET, headers cut", "GET", "HTTP/1.1 200 OK\r\nContent-Le", 3, 200, false},
			{"POST, headers cut", "POST", "HTTP/1.1 200 OK\r\nContent-Le", 1, 0, false},
			{"GET, 503 body cut", "GET", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\npart", 3, 200, false},
			{"GET, 200 body cut", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", 1, 200, true},
		}
		for _, tt := range tests {
			l := newRawListener(t, func(n int, c *net.TCPConn) {
				if _, err := readRequest(c); err != nil {
					return
				}
				if n <= 2 {
					io.WriteString(c, tt.partial)
					reset(c)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			})
			tr := newTransport(t, base)
			resp, err := tr.RoundTrip(newRequest(t, ctx, tt.method, l.url(), nil))
			if got := int(l.conns.Load()); got != tt.attempts {
				t.Errorf("%s: %d connections, want %d", tt.name, got, tt.attempts)
			}
			if tt.status == 0 {
				if je := jobError(t, err); !errors.Is(err, job.ErrPermanent) || je.Attempts != 1 {
					t.Errorf("%s: %v, want ErrPermanent after 1 attempt", tt.name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (rerr != nil) != tt.bodyErr || httpretry.Attempts(resp) != tt.attempts {
				t.Errorf("%s: %d, body %q (error %v) after %d attempts; want %d, a body error: %v, after %d",
					tt.name, resp.StatusCode, body, rerr, httpretry.Attempts(resp), tt.status, tt.bodyErr, tt.attempts)
			}
		}
	})

	t.Run("certificate", func(t *testing.T) {
		srv := tlsServer(t, http.NotFoundHandler(), false)
		tr := newTransport(t, base) // does not trust the test server's certificate
		_, _, err := roundTrip(t, tr, newRequest(t, ctx, "GET", srv.URL, nil))
		var cv *tls.CertificateVerificationError
		if je := jobError(t, err); je.Attempts != 1 || !errors.Is(err, job.ErrPermanent) || !errors.As(err, &cv) {
			t.Errorf("%v after %d attempts; want ErrPermanent after 1, reaching the certificate error", err, je.Attempts)
		}
	})

	t.Run("unsupported scheme", func(t *testing.T) {
		tr := newTransport(t, base)
		_, _, err := roundTrip(t, tr, newRequest(t, ctx, "GET", "ftp://example.com/file", nil))
		if je := jobError(t, err); je.Attempts != 1 || !errors.Is(err, job.ErrPermanent) {
			t.Errorf("%v after %d attempts; want ErrPermanent after 1", err, je.Attempts)
		}
	})

	t.Run("nil URL", func(t *testing.T) {
		tr := newTransport(t, base)
		body := &closer{Reader: strings.NewReader("x")}
		_, err := tr.RoundTrip(&http.Request{Method: "POST", Header: http.Header{}, Body: body})
		if err == nil || !strings.HasPrefix(err.Error(), "httpretry: ") || !body.closed.Load() {
			t.Errorf("RoundTrip with a nil URL: %v, body closed %v; want an httpretry error and the body closed", err, body.closed.Load())
		}
	})
}

// TestTransportBodies: a request body reaches every attempt whole, through
// GetBody or a buffer; past the buffer's limit it is sent once; the caller's
// body is always closed.
func TestTransportBodies(t *testing.T) {
	const payload = "payload: twenty-nine bytes.."
	sc := &script{status: failFirst(http.StatusServiceUnavailable, 2)}
	srv := server(t, sc)
	base := plainBase(t, false)
	hide := func(s string) *closer { return &closer{Reader: struct{ io.Reader }{strings.NewReader(s)}} }
	tests := []struct {
		name     string
		limit    int64 // WithBodyLimit; -1: the default
		body     *closer
		getBody  bool // the request has a GetBody
		attempts int
		status   int
	}{
		{"GetBody", -1, hide(payload), true, 3, 200},
		{"buffered", -1, hide(payload), false, 3, 200},
		{"at the limit", int64(len(payload)), hide(payload), false, 3, 200},
		{"over the limit: sent once", int64(len(payload)) - 1, hide(payload), false, 1, 503},
		{"no buffering: sent once", 0, hide(payload), false, 1, 503},
	}
	for i, tt := range tests {
		opts := []httpretry.Option{}
		if tt.limit >= 0 {
			opts = append(opts, httpretry.WithBodyLimit(tt.limit))
		}
		tr := newTransport(t, base, opts...)
		path := "/" + strconv.Itoa(i)
		req := newRequest(t, context.Background(), "PUT", srv.URL+path, tt.body)
		req.ContentLength = int64(len(payload))
		if tt.getBody {
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }
		}
		resp, _, err := roundTrip(t, tr, req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		bodies := sc.bodiesOf(path)
		if resp.StatusCode != tt.status || len(bodies) != tt.attempts {
			t.Errorf("%s: %d after %d attempts, want %d after %d", tt.name, resp.StatusCode, len(bodies), tt.status, tt.attempts)
		}
		for n, b := range bodies {
			if b != payload {
				t.Errorf("%s: attempt %d sent %q, want %q", tt.name, n+1, b, payload)
			}
		}
		if !tt.body.closed.Load() {
			t.Errorf("%s: the caller's body was not closed", tt.name)
		}
	}

	// A body is closed even when no attempt is made.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, getBody := range []bool{false, true} {
		body := hide(payload)
		req := newRequest(t, ctx, "PUT", srv.URL+"/canceled", body)
		if getBody {
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }
		}
		_, err := newTransport(t, base).RoundTrip(req)
		if !errors.Is(err, context.Canceled) || !body.closed.Load() {
			t.Errorf("canceled request (GetBody %v): %v, body closed %v; want context.Canceled and closed", getBody, err, body.closed.Load())
		}
	}
	if n := sc.count("/canceled"); n != 0 {
		t.Errorf("canceled requests reached the server %d times", n)
	}
}

// TestTransportConnectionReuse: failed attempts' bodies are drained and
// closed, so their connection carries the next attempt; a body longer than
// the drain is closed instead, and kept whole for the caller when it is the
// last response.
func TestTransportConnectionReuse(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	var conns atomic.Int32
	sc := &script{status: func(path string, n int, _ *http.Request) int {
		if path == "/small" && n > 3 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, big)
			return
		}
		sc.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := newTransport(t, plainBase(t, false))

	resp, body, err := roundTrip(t, tr, newRequest(t, context.Background(), "GET", srv.URL+"/small", nil))
	if err != nil || resp.StatusCode != 200 || body != "attempt 4" {
		t.Fatalf("GET /small: %v %v %q; want 200 \"attempt 4\"", resp, err, body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("4 attempts, 3 of them failed, used %d connections; want 1", n)
	}

	resp, body, err = roundTrip(t, tr, newRequest(t, context.Background(), "GET", srv.URL+"/big", nil))
	if err != nil || resp.StatusCode != 503 || body != big || httpretry.Attempts(resp) != 4 {
		t.Fatalf("GET /big: %v, %d bytes of body after %d attempts; want the last 503 whole after 4", err, len(body), httpretry.Attempts(resp))
	}
}

// TestTransportCancelDuringAttempt: the request's context ending while an
// attempt runs ends the attempt and the request, at once.
func TestTransportCancelDuringAttempt(t *testing.T) {
	arrived := make(chan struct{})
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	tr := newTransport(t, plainBase(t, false))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := tr.RoundTrip(newRequest(t, ctx, "GET", srv.URL, nil))
		done <- err
	}()
	<-arrived
	cancel()
	err := <-done
	if je := jobError(t, err); !errors.Is(err, context.Canceled) || je.Attempts != 1 {
		t.Errorf("%v after %d attempts; want context.Canceled after 1", err, je.Attempts)
	}
}
