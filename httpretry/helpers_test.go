package httpretry_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// fast is a policy for tests against real servers: the default 4 attempts,
// 1 ms between them.
var fast = job.NewPolicy(job.Wait(wait.Constant(time.Millisecond)), job.Jitter(jitter.None))

// newTransport returns a Transport over base with the fast policy (opts
// after it), closed when the test ends.
func newTransport(t *testing.T, base http.RoundTripper, opts ...httpretry.Option) *httpretry.Transport {
	t.Helper()
	tr := httpretry.NewTransport(base, append([]httpretry.Option{httpretry.WithPolicy(fast)}, opts...)...)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// plainBase returns an http.Transport of the test's own, without keep-alive
// when fresh is set (each attempt then dials: net/http makes no retry of its
// own and listeners count attempts as connections). Its idle connections
// are closed when the test ends.
func plainBase(t *testing.T, fresh bool) *http.Transport {
	base := &http.Transport{DisableKeepAlives: fresh}
	t.Cleanup(base.CloseIdleConnections)
	return base
}

// roundTrip sends a request through rt and returns the response with its
// body read and closed.
func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) (*http.Response, string, error) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		if resp != nil {
			t.Errorf("RoundTrip returned a response and an error %v", err)
		}
		return nil, "", err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		t.Errorf("reading the body: %v", rerr)
	}
	return resp, string(b), nil
}

func newRequest(t *testing.T, ctx context.Context, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// script is a handler that answers the n-th request (1-based) of each path
// with status(n), and "attempt n" as its body; it counts requests per path
// and keeps each request's body.
type script struct {
	status func(path string, n int, r *http.Request) int
	header func(path string, n int, h http.Header) // optional

	mu     sync.Mutex
	counts map[string]int
	bodies map[string][]string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.counts == nil {
		s.counts, s.bodies = map[string]int{}, map[string][]string{}
	}
	s.counts[r.URL.Path]++
	n := s.counts[r.URL.Path]
	s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], string(body))
	s.mu.Unlock()
	if s.header != nil {
		s.header(r.URL.Path, n, w.Header())
	}
	w.WriteHeader(s.status(r.URL.Path, n, r))
	io.WriteString(w, "attempt "+strconv.Itoa(n))
}

func (s *script) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

func (s *script) bodiesOf(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies[path]...)
}

// failFirst answers status to the first k requests of a path, then 200.
func failFirst(status, k int) func(string, int, *http.Request) int {
	return func(_ string, n int, _ *http.Request) int {
		if n <= k {
			return status
		}
		return http.StatusOK
	}
}

// server starts an HTTP/1.1 test server, closed when the test ends.
func server(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// closedPort returns the address of a TCP port on which nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rawListener serves each TCP connection with serve, in a goroutine per
// connection; it counts connections. It stops when the test ends.
type rawListener struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
}

func newRawListener(t *testing.T, serve func(n int, c *net.TCPConn)) *rawListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &rawListener{ln: ln}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(l.conns.Add(1))
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer c.Close()
				serve(n, c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		l.wg.Wait()
	})
	return l
}

func (l *rawListener) url() string { return "http://" + l.ln.Addr().String() + "/" }

// readRequest reads one request (headers and body) from c.
func readRequest(c net.Conn) (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, req.Body)
	return req, nil
}

// reset closes c with an RST instead of a FIN.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// closer records that a request body was closed.
type closer struct {
	io.Reader
	closed atomic.Bool
}

func (c *closer) Close() error {
	c.closed.Store(true)
	return nil
}

// jobError returns err as a *job.Error, or fails the test.
func jobError(t *testing.T, err error) *job.Error {
	t.Helper()
	var je *job.Error
	if !errors.As(err, &je) {
		t.Fatalf("error %v (%T) is not a *job.Error", err, err)
	}
	return je
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// panicOf returns the text of f's panic, or "" if it returned.
func panicOf(f func()) (msg string) {
	defer func() {
		if x := recover(); x != nil {
			msg = fmt.Sprint(x)
		}
	}()
	f()
	return ""
}

// tlsServer starts a TLS test server, with HTTP/2 when h2 is set, closed
// when the test ends. Its client (srv.Client()) trusts its certificate.
func tlsServer(t *testing.T, h http.Handler, h2 bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = h2
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes a test fails on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
