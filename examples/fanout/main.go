// Command fanout sends 1,000 calls to a flaky HTTP API through a retrying
// http.Client (package httpretry) on a Rebound scheduler, and shows how each
// kind of failure is handled, with no status switch of its own:
//
//   - 503 Service Unavailable: retried with jittered exponential backoff;
//   - 429 Too Many Requests with a Retry-After header: retried, but not
//     before the server's hint (given in seconds, and once as an HTTP-date);
//   - 401 Unauthorized: not retried at all, since trying again cannot help.
//
// Run it with
//
//	go run ./examples/fanout
//	go run ./examples/fanout -calls 5000 -workers 100 -p503 0.3
//
// The API is a local test server on 127.0.0.1 (a random port) that picks
// each answer from -seed, the call's ID and the attempt number (it counts
// each call's requests), so a run is repeatable. The server also checks the
// client: it records whether every retry after a 429 came no earlier than
// the hint, and whether a call that got a 401 ever came back.
//
// While the calls run, a progress line shows how many are done, in flight
// (an attempt on a worker), queued (waiting for a worker), parked (waiting
// for their retry) and given up. At the end a summary counts calls,
// attempts and retries, and draws a histogram of the waits before retries.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

// config is what the flags set.
type config struct {
	calls      int
	workers    int
	attempts   int
	p503       float64
	p429       float64
	p401       float64
	retryAfter int // seconds
	latency    time.Duration
	seed       uint64
}

func run(args []string, out io.Writer) int {
	var c config
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.IntVar(&c.calls, "calls", 1000, "number of calls")
	fs.IntVar(&c.workers, "workers", 50, "calls in flight at once (scheduler workers)")
	fs.IntVar(&c.attempts, "attempts", 8, "attempts per call, the first included")
	fs.Float64Var(&c.p503, "p503", 0.2, "share of attempts answered 503 Service Unavailable")
	fs.Float64Var(&c.p429, "p429", 0.05, "share of attempts answered 429 Too Many Requests with Retry-After")
	fs.Float64Var(&c.p401, "p401", 0.01, "share of calls answered 401 Unauthorized (never retried)")
	fs.IntVar(&c.retryAfter, "retry-after", 1, "Retry-After hint of a 429, in seconds")
	fs.DurationVar(&c.latency, "latency", 2*time.Millisecond, "time the server takes per request")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the server's choice of failures")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.calls < 1 || c.workers < 1 || c.attempts < 1 || c.retryAfter < 0 {
		fmt.Fprintln(os.Stderr, "fanout: -calls, -workers and -attempts must be >= 1, -retry-after >= 0")
		return 2
	}
	if c.p503 < 0 || c.p429 < 0 || c.p401 < 0 || c.p503+c.p429 > 1 || c.p401 > 1 {
		fmt.Fprintln(os.Stderr, "fanout: -p503, -p429 and -p401 are shares in [0, 1]; -p503 + -p429 must not exceed 1")
		return 2
	}

	api, err := startAPI(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		return 1
	}
	defer api.close()

	// One connection per worker kept open.
	base := &http.Transport{MaxIdleConnsPerHost: c.workers}
	defer base.CloseIdleConnections()

	fmt.Fprintf(out, "fanout: %d calls to %s with %d workers (seed %d)\n", c.calls, api.url, c.workers, c.seed)
	start := time.Now()
	sum := fanOut(c, base, api.url, out)
	sum.wall = time.Since(start)
	sum.server = api.report()
	sum.print(out)
	return 0
}

// outcome is how one call ended.
type outcome struct {
	status   int   // the last response's status; 0 after an error
	attempts int   // attempts made
	err      error // a transport error, after the last attempt
}

// call makes call id: one GET through the retrying client, which retries
// it as the HTTP classifier says (429 and 503 retried, the Retry-After
// honoured; 401 final) and returns the last response.
func call(ctx context.Context, client *http.Client, url string, id int) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{err: err}
	}
	// The call's ID lets the server follow each call across its retries.
	// Real APIs take such an ID as an idempotency key.
	req.Header.Set("X-Call-ID", strconv.Itoa(id))
	resp, err := client.Do(req)
	if err != nil {
		var je *job.Error
		errors.As(err, &je)
		o := outcome{err: err}
		if je != nil {
			o.attempts = je.Attempts
		}
		return o
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return outcome{status: resp.StatusCode, attempts: httpretry.Attempts(resp)}
}

// fanOut sends every call through a retrying client whose attempts run on a
// scheduler, and returns the client's side of the summary. It prints
// progress to out while the calls run.
func fanOut(c config, base http.RoundTripper, url string, out io.Writer) *summary {
	ctx := context.Background()
	s := scheduler.New(scheduler.WithWorkers(c.workers))
	// Every call has ended when fanOut returns, so Shutdown has nothing left
	// to wait for: it just stops the scheduler's goroutines.
	defer s.Shutdown(ctx)

	sum := &summary{calls: c.calls}

	// One policy for all calls. OnRetry runs once per retry; it feeds the
	// histogram of waits.
	policy := job.NewPolicy(
		job.MaxAttempts(c.attempts),
		job.Wait(wait.Exponential(50*time.Millisecond, 2, time.Second)),
		job.OnRetry(func(e job.Event) { sum.waits.add(e.Wait) }),
	)
	tr := httpretry.NewTransport(base,
		httpretry.WithScheduler(s),
		httpretry.WithPolicy(policy),
		// This API's 429s concern one call (a quota per call), not the
		// client's rate: no key, so a 429 delays its own call only. By
		// default the key is the host, and a 429 pauses every call to it
		// (see examples/scraper).
		httpretry.WithKey(func(*http.Request) string { return "" }),
	)
	defer tr.Close() // not s: the Transport does not own it
	client := &http.Client{Transport: tr}

	// A goroutine per call: each waits for its response while its request
	// is a job on the scheduler (queued, running, or parked for a retry).
	results := make(chan outcome, c.calls)
	for id := range c.calls {
		go func() { results <- call(ctx, client, url, id) }()
	}

	p := newProgress(out, c.calls)
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for done := 0; done < c.calls; {
		select {
		case r := <-results:
			done++
			sum.attempts += r.attempts
			switch {
			case r.status == http.StatusOK:
				sum.succeeded++
			case r.status != 0 && r.attempts == 1:
				// A final status (the 401), returned after one attempt.
				sum.permanent++
			default:
				// Against this server, the only other way to give up: the
				// last 503 or 429 after the last attempt.
				sum.exhausted++
			}
		case <-tick.C:
			p.show(done, sum.permanent+sum.exhausted, s.Stats())
		}
	}
	p.finish(c.calls, sum.permanent+sum.exhausted, s.Stats())

	sum.retries = int(s.Stats().Retried)
	return sum
}

// progress shows how the calls are going: on a terminal one line rewritten
// in place ten times a second, elsewhere (a file, a pipe, a test) one plain
// line per second.
type progress struct {
	out   io.Writer
	tty   bool
	every time.Duration
	total int
	start time.Time
}

func newProgress(out io.Writer, total int) *progress {
	p := &progress{out: out, tty: isTerminal(out), every: time.Second, total: total, start: time.Now()}
	if p.tty {
		p.every = 100 * time.Millisecond
	}
	return p
}

func (p *progress) line(done, gaveUp int, st scheduler.Stats) string {
	return fmt.Sprintf("[%4.1fs] done %d/%d | in flight %d | queued %d | parked %d | gave up %d",
		time.Since(p.start).Seconds(), done, p.total, st.Running, st.Queued, st.Parked, gaveUp)
}

func (p *progress) show(done, gaveUp int, st scheduler.Stats) {
	if p.tty {
		// \r returns to the start of the line, \x1b[K clears the rest of it.
		fmt.Fprintf(p.out, "\r%s\x1b[K", p.line(done, gaveUp, st))
		return
	}
	fmt.Fprintln(p.out, p.line(done, gaveUp, st))
}

func (p *progress) finish(done, gaveUp int, st scheduler.Stats) {
	p.show(done, gaveUp, st)
	if p.tty {
		fmt.Fprintln(p.out)
	}
}

// isTerminal reports whether w is a terminal (a character device), without
// any dependency: a file or a pipe is not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// summary is what the run reports at the end.
type summary struct {
	calls     int
	succeeded int
	permanent int // gave up on a 401, after one attempt
	exhausted int // gave up after the last attempt
	attempts  int // attempts made by the client
	retries   int // retries scheduled (scheduler.Stats)
	waits     histogram
	wall      time.Duration
	server    serverReport
}

func (s *summary) print(w io.Writer) {
	sv := s.server
	fmt.Fprintln(w)
	fmt.Fprintf(w, "calls:                %d\n", s.calls)
	fmt.Fprintf(w, "  succeeded:          %d\n", s.succeeded)
	fmt.Fprintf(w, "  gave up:            %d (%d on a 401, %d with their attempts used up)\n",
		s.permanent+s.exhausted, s.permanent, s.exhausted)
	fmt.Fprintf(w, "attempts:             %d (server received %d)\n", s.attempts, sv.requests)
	fmt.Fprintf(w, "retries:              %d (%d after a 503, %d after a 429)\n", s.retries, sv.after503, sv.after429)
	fmt.Fprintf(w, "401s not retried:     %d/%d calls got a 401 and were attempted once\n", sv.unauthorizedOnce, sv.unauthorized)
	fmt.Fprintf(w, "Retry-After honoured: %d/%d retries after a 429 came no earlier than the hint (%d hint as an HTTP-date)\n",
		sv.honoured, sv.after429, sv.dateHints)
	fmt.Fprintf(w, "wall time:            %v\n", s.wall.Round(time.Millisecond))
	fmt.Fprintln(w, "waits before retries:")
	s.waits.print(w)
}

// histogram counts waits in a few buckets. It is safe for concurrent use:
// OnRetry hooks run on the scheduler's workers.
type histogram struct {
	counts [len(bucketBounds) + 1]atomic.Int64
}

// bucketBounds are the upper bounds of the buckets; the last bucket holds
// everything above the last bound.
var bucketBounds = [...]time.Duration{
	50 * time.Millisecond,
	100 * time.Millisecond,
	200 * time.Millisecond,
	500 * time.Millisecond,
	time.Second,
	2 * time.Second,
}

func (h *histogram) add(d time.Duration) {
	i := 0
	for i < len(bucketBounds) && d >= bucketBounds[i] {
		i++
	}
	h.counts[i].Add(1)
}

func (h *histogram) print(w io.Writer) {
	const width = 40
	var most int64
	for i := range h.counts {
		most = max(most, h.counts[i].Load())
	}
	lo := time.Duration(0)
	for i := range h.counts {
		label := fmt.Sprintf("%v+", lo)
		if i < len(bucketBounds) {
			label = fmt.Sprintf("%v-%v", lo, bucketBounds[i])
			lo = bucketBounds[i]
		}
		n := h.counts[i].Load()
		bar := 0
		if most > 0 {
			bar = int((n*width + most - 1) / most) // round up: a non-zero count shows
		}
		line := fmt.Sprintf("  %-12s %6d %s", label, n, strings.Repeat("#", bar))
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// api is the flaky local HTTP server.
type api struct {
	url   string
	srv   *http.Server
	done  chan struct{}
	cfg   config
	mu    sync.Mutex
	calls map[int]*callLog
	rep   serverReport
}

// callLog is what the server remembers about one call.
type callLog struct {
	requests     int
	unauthorized bool
	last         int       // status of the last answer
	notBefore    time.Time // after a 429: when the call may come back
}

// serverReport is the server's view of the run.
type serverReport struct {
	requests         int
	unauthorized     int // calls that got a 401
	unauthorizedOnce int // of those, calls that never came back
	after503         int // requests that followed a 503 of the same call
	after429         int // requests that followed a 429 of the same call
	honoured         int // of those, requests that came no earlier than the hint
	dateHints        int // 429s whose Retry-After was an HTTP-date
}

func startAPI(c config) (*api, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // port 0: any free port
	if err != nil {
		return nil, err
	}
	a := &api{url: "http://" + ln.Addr().String() + "/", done: make(chan struct{}), cfg: c, calls: make(map[int]*callLog)}
	a.srv = &http.Server{Handler: a}
	go func() {
		defer close(a.done)
		a.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	return a, nil
}

func (a *api) close() {
	a.srv.Shutdown(context.Background())
	<-a.done
}

func (a *api) report() serverReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rep
	for _, cl := range a.calls {
		if cl.unauthorized {
			r.unauthorized++
			if cl.requests == 1 {
				r.unauthorizedOnce++
			}
		}
	}
	return r
}

// ServeHTTP answers one request. The answer depends only on the seed, the
// call's ID and the attempt number, never on timing.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	id, err := strconv.Atoi(r.Header.Get("X-Call-ID"))
	if err != nil {
		http.Error(w, "missing X-Call-ID", http.StatusBadRequest)
		return
	}

	// Check the client: was this a retry, and did it respect the last
	// answer's Retry-After? The attempt number is the call's count of
	// requests: a call's attempts come one after another.
	a.mu.Lock()
	a.rep.requests++
	cl := a.calls[id]
	if cl == nil {
		cl = &callLog{}
		a.calls[id] = cl
	}
	cl.requests++
	attempt := cl.requests
	switch cl.last {
	case http.StatusServiceUnavailable:
		a.rep.after503++
	case http.StatusTooManyRequests:
		a.rep.after429++
		if !arrival.Before(cl.notBefore) {
			a.rep.honoured++
		}
	}
	a.mu.Unlock()

	status := http.StatusOK
	switch u := a.uniform(id, attempt); {
	case a.uniform(id, 0) < a.cfg.p401:
		status = http.StatusUnauthorized // this call's credentials are bad
	case u < a.cfg.p503:
		status = http.StatusServiceUnavailable
	case u < a.cfg.p503+a.cfg.p429:
		status = http.StatusTooManyRequests
	}

	// Pretend to work for a moment.
	select {
	case <-time.After(a.cfg.latency):
	case <-r.Context().Done():
		return
	}

	// Remember the answer, and for a 429 when the call may come back.
	a.mu.Lock()
	cl.last = status
	if status == http.StatusUnauthorized {
		cl.unauthorized = true
	}
	if status == http.StatusTooManyRequests {
		now := time.Now()
		hint := time.Duration(a.cfg.retryAfter) * time.Second
		if a.rep.dateHints == 0 {
			// Once, the hint is an HTTP-date, the other form of
			// Retry-After. A date has whole seconds: round up.
			at := now.Add(hint + time.Second).Truncate(time.Second)
			cl.notBefore = at
			w.Header().Set("Retry-After", at.UTC().Format(http.TimeFormat))
			a.rep.dateHints++
		} else {
			cl.notBefore = now.Add(hint)
			w.Header().Set("Retry-After", strconv.Itoa(a.cfg.retryAfter))
		}
	}
	a.mu.Unlock()

	w.WriteHeader(status)
	fmt.Fprintf(w, "call %d attempt %d: %s\n", id, attempt, http.StatusText(status))
}

// uniform returns a number in [0, 1) drawn from the seed, id and attempt:
// the same inputs always give the same number (splitmix64).
func (a *api) uniform(id, attempt int) float64 {
	x := a.cfg.seed ^ uint64(id)*0x9e3779b97f4a7c15 ^ uint64(attempt)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
