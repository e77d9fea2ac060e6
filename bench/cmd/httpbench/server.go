package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// pattern is what the flaky server answers: the same for every variant.
type pattern struct {
	Seed       uint64
	P503, P429 float64
	RetryAfter int // seconds, on every 429
	FailUntil  int // attempts from this one on always succeed
}

// status returns the answer to attempt n (1-based) of call id.
func (p pattern) status(id, n int) int {
	if n >= p.FailUntil {
		return http.StatusOK
	}
	switch u := uniform(p.Seed, id, n); {
	case u < p.P503:
		return http.StatusServiceUnavailable
	case u < p.P503+p.P429:
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// uniform returns a number in [0, 1) drawn from seed, id and attempt
// (splitmix64): the same inputs always give the same number.
func uniform(seed uint64, id, attempt int) float64 {
	x := seed ^ uint64(id)*0x9e3779b97f4a7c15 ^ uint64(attempt)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// serverStats is what the server counts during one cell.
type serverStats struct {
	Requests int64 // requests received
	Early    int64 // retries of a call that came before its last 429's Retry-After had passed
	Conns    int64 // connections opened
	S503     int64
	S429     int64
}

// server answers /ok/{id} with 200 and /flaky/{id} by the pattern, counting
// each call's attempts; /reset clears the counts and /stats reports them.
type server struct {
	p         pattern
	start     time.Time
	attempts  []atomic.Int32
	notBefore []atomic.Int64 // since start; 0: none
	st        struct{ requests, early, conns, s503, s429 atomic.Int64 }
}

func newServer(p pattern, calls int) *server {
	return &server{p: p, start: time.Now(), attempts: make([]atomic.Int32, calls), notBefore: make([]atomic.Int64, calls)}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := int64(time.Since(s.start))
	path := r.URL.Path
	switch path {
	case "/reset":
		for i := range s.attempts {
			s.attempts[i].Store(0)
			s.notBefore[i].Store(0)
		}
		s.st.requests.Store(0)
		s.st.early.Store(0)
		s.st.conns.Store(0)
		s.st.s503.Store(0)
		s.st.s429.Store(0)
		return
	case "/stats":
		json.NewEncoder(w).Encode(serverStats{
			Requests: s.st.requests.Load(), Early: s.st.early.Load(), Conns: s.st.conns.Load(),
			S503: s.st.s503.Load(), S429: s.st.s429.Load(),
		})
		return
	}
	s.st.requests.Add(1)
	flaky := strings.HasPrefix(path, "/flaky/")
	id, err := strconv.Atoi(path[strings.LastIndexByte(path, '/')+1:])
	if err != nil || id < 0 || id >= len(s.attempts) {
		http.Error(w, "no such call", http.StatusNotFound)
		return
	}
	n := int(s.attempts[id].Add(1))
	if nb := s.notBefore[id].Load(); nb != 0 && now < nb {
		s.st.early.Add(1)
	}
	status := http.StatusOK
	if flaky {
		status = s.p.status(id, n)
	}
	switch status {
	case http.StatusTooManyRequests:
		s.st.s429.Add(1)
		// The time the client may come back: from when the answer leaves.
		s.notBefore[id].Store(int64(time.Since(s.start)) + int64(s.p.RetryAfter)*int64(time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(s.p.RetryAfter))
		w.WriteHeader(status)
		io.WriteString(w, "slow down\n")
	case http.StatusServiceUnavailable:
		s.st.s503.Add(1)
		w.WriteHeader(status)
		io.WriteString(w, "busy\n")
	default:
		io.WriteString(w, "ok\n")
	}
}

// serve runs the server on a free port of 127.0.0.1 until stop is closed
// (or forever, with a nil stop); ready receives its address.
func serve(p pattern, calls int, ready func(addr string), stop <-chan struct{}) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := newServer(p, calls)
	srv := &http.Server{Handler: s, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.st.conns.Add(1)
		}
	}}
	ready(ln.Addr().String())
	if stop != nil {
		go func() {
			<-stop
			srv.Close()
		}()
	}
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// child starts this program as the server in a process of its own, so that
// the client's allocations and CPU time are the client's alone. It returns
// the server's address and a function that stops it.
func child(p pattern, calls int) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve",
		"-calls", strconv.Itoa(calls), "-seed", strconv.FormatUint(p.Seed, 10),
		"-p503", fmt.Sprint(p.P503), "-p429", fmt.Sprint(p.P429),
		"-retry-after", strconv.Itoa(p.RetryAfter), "-fail-until", strconv.Itoa(p.FailUntil))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("server process: %v", err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	return strings.TrimSpace(line), stop, nil
}
