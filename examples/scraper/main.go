// Command scraper fetches pages from several hosts at once, each of which
// limits its own request rate, and shows how Rebound's per-key pause keeps
// it polite: once a host has answered 429 Too Many Requests with a
// Retry-After header, no request goes to that host until the hint has
// passed, while the other hosts carry on.
//
//	go run ./examples/scraper
//	go run ./examples/scraper -naive      # without keys: see the difference
//	go run ./examples/scraper -rate 8     # each host paced at 8 requests/s
//	go run ./examples/scraper -adaptive   # each host paced at a rate learnt from its 429s
//
// The hosts are local HTTP servers on 127.0.0.1 (random ports). Host i
// allows -limit + 5*i requests per second; the request over the limit gets a
// 429 with "Retry-After: 1", and the host counts itself paused for that
// second. Every request that arrives during a pause is answered 429 too,
// and counted.
//
// The scraper fetches through a retrying http.Client (package httpretry)
// whose attempts run on a scheduler with a per-key limit
// (scheduler.WithKeyLimit). The Transport keys every request by its host, so
// at most -per-host requests go to one host at once, and a 429's Retry-After
// pauses the whole host, not just the request that got it. The scraper has
// no status switch of its own: the client retries 429s, honours their hint,
// and returns the last response.
//
// Pausing reacts to a 429 once it has come; pacing tries to avoid it. -rate
// gives every host the same fixed rate (scheduler.WithKeyRate): below a
// host's limit, its 429s disappear, and a faster host is held to the rate
// too. -adaptive (scheduler.WithAdaptiveKeyRate) finds each host's rate
// from its 429s instead: over a long enough run (-pages 150) it receives
// about half the 429s of the unpaced mode; each of these hosts' 429s still
// costs a one-second pause, so a probe past the limit is paid in pages/s
// (see the key-rate experiment in bench/README.md). Compare the 429s and
// pages/s columns of the three modes.
//
// What the hosts count, per host: pages served, requests, 429s (each one
// received by the scraper), requests already in flight when the pause
// began, requests sent while paused, the time paused, and pages served per
// second from the host's first request to its last page. With -per-host 2,
// when one request gets the 429 the other may already be on its way, or
// may start before the client has read the 429: the client cannot know
// yet. At most -per-host - 1 such requests can
// arrive in each pause, one per other slot, since each then gets a 429 of its
// own and that pauses the host on the client too. The hosts therefore
// forgive that many per pause ("in flight"); every request beyond them was
// sent while the client had been told to pause ("while paused"), and that
// must be 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

// config is what the flags set.
type config struct {
	hosts    int
	pages    int
	limit    int
	perHost  int
	workers  int
	naive    bool
	rate     float64 // requests per second per host; 0: not paced
	adaptive bool
	seed     uint64
}

func run(args []string, out io.Writer) int {
	var c config
	fs := flag.NewFlagSet("scraper", flag.ContinueOnError)
	fs.IntVar(&c.hosts, "hosts", 4, "number of hosts")
	fs.IntVar(&c.pages, "pages", 30, "pages to fetch per host")
	fs.IntVar(&c.limit, "limit", 10, "requests per second host 0 allows; host i allows 5*i more")
	fs.IntVar(&c.perHost, "per-host", 2, "requests in flight per host, at most (scheduler.WithKeyLimit)")
	fs.IntVar(&c.workers, "workers", 16, "requests in flight in all (scheduler.WithWorkers)")
	fs.BoolVar(&c.naive, "naive", false, "do not key jobs by host: no per-host limit, no per-host pause")
	fs.Float64Var(&c.rate, "rate", 0, "pace each host at this many requests per second (scheduler.WithKeyRate); 0: no pacing")
	fs.BoolVar(&c.adaptive, "adaptive", false, "pace each host at the rate its 429s show it takes (scheduler.WithAdaptiveKeyRate)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the retries' jitter (scheduler.WithRand)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.hosts < 1 || c.pages < 1 || c.limit < 1 || c.perHost < 1 || c.workers < 1 {
		fmt.Fprintln(os.Stderr, "scraper: -hosts, -pages, -limit, -per-host and -workers must be >= 1")
		return 2
	}
	if !(c.rate >= 0) || math.IsInf(c.rate, 0) {
		fmt.Fprintln(os.Stderr, "scraper: -rate must be a finite number >= 0")
		return 2
	}
	if c.rate > 0 && c.adaptive {
		fmt.Fprintln(os.Stderr, "scraper: -rate and -adaptive are two ways of pacing: choose one")
		return 2
	}
	if c.naive && (c.rate > 0 || c.adaptive) {
		fmt.Fprintln(os.Stderr, "scraper: -rate and -adaptive pace each host's key; -naive has no keys")
		return 2
	}

	// Start the hosts.
	hosts := make([]*host, c.hosts)
	for i := range hosts {
		h, err := startHost(c.limit+5*i, c.perHost-1)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scraper:", err)
			return 1
		}
		defer h.close()
		hosts[i] = h
	}

	base := &http.Transport{MaxIdleConnsPerHost: c.perHost}
	defer base.CloseIdleConnections()

	mode := "keyed by host"
	switch {
	case c.naive:
		mode = "NOT keyed by host (-naive)"
	case c.rate > 0:
		mode += fmt.Sprintf(", each paced at %g requests/s (-rate)", c.rate)
	case c.adaptive:
		mode += ", each paced adaptively (-adaptive)"
	}
	fmt.Fprintf(out, "scraper: %d hosts x %d pages, %d requests per host at once, %s\n", c.hosts, c.pages, c.perHost, mode)

	start := time.Now()
	fetched, st := scrape(c, base, hosts)
	wall := time.Since(start)

	// The report, from the hosts' point of view.
	fmt.Fprintf(out, "%-16s %6s %6s %9s %5s %10s %13s %7s %8s\n",
		"host", "limit", "pages", "requests", "429s", "in flight", "while paused", "paused", "pages/s")
	var pages, whilePaused, tooMany int
	for _, h := range hosts {
		r := h.report()
		pages += r.pages
		whilePaused += r.whilePaused
		tooMany += r.tooMany
		fmt.Fprintf(out, "%-16s %4d/s %6d %9d %5d %10d %13d %7s %8.1f\n",
			h.name, h.limit, r.pages, r.requests, r.tooMany, r.inFlight, r.whilePaused, r.paused, r.perSecond())
	}
	fmt.Fprintf(out, "  in flight: requests already on their way when their host's pause began: the client could not know yet (at most -per-host - 1 = %d a pause)\n"+
		"  while paused: requests sent after the client had been told to pause (must be 0)\n", c.perHost-1)
	fmt.Fprintf(out, "fetched %d/%d pages in %v; 429s received: %d; pauses recorded by the scheduler: %d\n",
		fetched, c.hosts*c.pages, wall.Round(time.Millisecond), tooMany, st.Pauses)
	fmt.Fprintf(out, "requests sent while a host had said to pause: %d\n", whilePaused)
	return 0
}

// scrape fetches every page of every host and returns the number fetched
// and the scheduler's final counters.
func scrape(c config, base http.RoundTripper, hosts []*host) (int, scheduler.Stats) {
	ctx := context.Background()
	// WithKeyLimit bounds the running attempts of each key: each host gets
	// at most perHost requests at once, and a busy host does not hold up
	// the others.
	sopts := []scheduler.Option{
		scheduler.WithWorkers(c.workers),
		scheduler.WithKeyLimit(c.perHost),
		scheduler.WithRand(c.seed),
	}
	switch {
	case c.rate > 0:
		// Every attempt to a host, first or retry, takes one of its
		// tokens: at most c.rate a second, and no burst.
		sopts = append(sopts, scheduler.WithKeyRate(c.rate, 1))
	case c.adaptive:
		// Each host unpaced until its first 429; then a rate of its own
		// that drops on a 429 and grows back between them.
		sopts = append(sopts, scheduler.WithAdaptiveKeyRate())
	}
	s := scheduler.New(sopts...)
	defer s.Shutdown(ctx)

	opts := []httpretry.Option{
		httpretry.WithScheduler(s),
		httpretry.WithPolicy(job.NewPolicy(
			job.MaxAttempts(10),
			job.Wait(wait.Exponential(50*time.Millisecond, 2, time.Second)),
		)),
	}
	if c.naive {
		// No key: no per-host limit, and each request honours only its
		// own 429s.
		opts = append(opts, httpretry.WithKey(func(*http.Request) string { return "" }))
	}
	tr := httpretry.NewTransport(base, opts...) // keyed by host by default
	defer tr.Close()                            // not s: the Transport does not own it
	client := &http.Client{Transport: tr}

	// A goroutine per page: each waits for its page while its request is a
	// job on the scheduler (waiting for its host's slot or pause, running,
	// or parked for a retry).
	fetched := make(chan bool)
	for _, h := range hosts {
		for i := range c.pages {
			go func() { fetched <- fetch(ctx, client, fmt.Sprintf("http://%s/page/%d", h.name, i)) }()
		}
	}
	n := 0
	for range len(hosts) * c.pages {
		if <-fetched {
			n++
		}
	}
	return n, s.Stats()
}

// fetch gets one page and reports whether it came. The client retries a
// 429, not before its Retry-After; on a keyed request the scheduler pauses
// the whole host.
func fetch(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK
}

// host is one rate-limited local web server.
type host struct {
	name    string // "127.0.0.1:port", the jobs' key
	limit   int    // requests per second
	forgive int    // requests a pause forgives: already in flight
	srv     *http.Server
	done    chan struct{}

	mu       sync.Mutex
	first    time.Time // the first request's arrival
	lastPage time.Time // the last page's
	window   time.Time // start of the current one-second window
	inWindow int       // requests in it
	pauseEnd time.Time // the end of the last pause this host announced
	inPause  int       // requests that arrived during the current pause
	rep      hostReport
}

type hostReport struct {
	pages, requests, tooMany int
	inFlight, whilePaused    int
	paused                   time.Duration
	busy                     time.Duration // from the first request to the last page
}

// perSecond returns the pages served per second of the busy period.
func (r hostReport) perSecond() float64 {
	if r.busy <= 0 {
		return 0
	}
	return float64(r.pages) / r.busy.Seconds()
}

func startHost(limit, forgive int) (*host, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // port 0: any free port
	if err != nil {
		return nil, err
	}
	h := &host{name: ln.Addr().String(), limit: limit, forgive: forgive, done: make(chan struct{})}
	h.srv = &http.Server{Handler: h}
	go func() {
		defer close(h.done)
		h.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	return h, nil
}

func (h *host) close() {
	h.srv.Shutdown(context.Background())
	<-h.done
}

func (h *host) report() hostReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rep
	r.busy = h.lastPage.Sub(h.first)
	return r
}

// ServeHTTP answers a page, or 429 when the host is over its limit or
// paused.
func (h *host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	h.mu.Lock()
	if h.rep.requests == 0 {
		h.first = now
	}
	h.rep.requests++

	if now.Before(h.pauseEnd) {
		// Paused: this request should not have come, unless it was already
		// on its way.
		h.inPause++
		if h.inPause <= h.forgive {
			h.rep.inFlight++
		} else {
			h.rep.whilePaused++
		}
		h.rep.tooMany++
		left := h.pauseEnd.Sub(now)
		h.mu.Unlock()
		// Retry-After has whole seconds: round up, never down.
		tooMany(w, int((left+time.Second-1)/time.Second))
		return
	}

	if now.Sub(h.window) >= time.Second {
		h.window, h.inWindow = now, 0
	}
	h.inWindow++
	if h.inWindow > h.limit {
		// Over the limit: pause for a second, and say so.
		h.pauseEnd, h.inPause = now.Add(time.Second), 0
		h.rep.paused += time.Second
		h.rep.tooMany++
		h.mu.Unlock()
		tooMany(w, 1)
		return
	}
	h.rep.pages++
	h.lastPage = now
	h.mu.Unlock()

	time.Sleep(2 * time.Millisecond) // render the page
	fmt.Fprintf(w, "<html><body>%s</body></html>\n", r.URL.Path)
}

func tooMany(w http.ResponseWriter, seconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	http.Error(w, "slow down", http.StatusTooManyRequests)
}
