// Command scraper fetches pages from several hosts at once, each of which
// limits its own request rate, and shows how Rebound's per-key pause keeps
// it polite: once a host has answered 429 Too Many Requests with a
// Retry-After header, no request goes to that host until the hint has
// passed, while the other hosts carry on.
//
//	go run ./examples/scraper
//	go run ./examples/scraper -naive   # without keys: see the difference
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
// What the hosts count, per host: pages served, requests, 429s, requests
// already in flight when the pause began, requests sent while paused, and
// the time paused. With -per-host 2, when one request gets the 429 the other
// may already be on its way, or may start before the client has read the
// 429: the client cannot know yet. At most -per-host - 1 such requests can
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
	hosts   int
	pages   int
	limit   int
	perHost int
	workers int
	naive   bool
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.hosts < 1 || c.pages < 1 || c.limit < 1 || c.perHost < 1 || c.workers < 1 {
		fmt.Fprintln(os.Stderr, "scraper: -hosts, -pages, -limit, -per-host and -workers must be >= 1")
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
	if c.naive {
		mode = "NOT keyed by host (-naive)"
	}
	fmt.Fprintf(out, "scraper: %d hosts x %d pages, %d requests per host at once, %s\n", c.hosts, c.pages, c.perHost, mode)

	start := time.Now()
	fetched, st := scrape(c, base, hosts)
	wall := time.Since(start)

	// The report, from the hosts' point of view.
	fmt.Fprintf(out, "%-16s %6s %6s %9s %5s %10s %13s %7s\n",
		"host", "limit", "pages", "requests", "429s", "in flight", "while paused", "paused")
	var pages, whilePaused int
	for _, h := range hosts {
		r := h.report()
		pages += r.pages
		whilePaused += r.whilePaused
		fmt.Fprintf(out, "%-16s %4d/s %6d %9d %5d %10d %13d %7s\n",
			h.name, h.limit, r.pages, r.requests, r.tooMany, r.inFlight, r.whilePaused, r.paused)
	}
	fmt.Fprintf(out, "  in flight: requests already on their way when their host's pause began: the client could not know yet (at most -per-host - 1 = %d a pause)\n"+
		"  while paused: requests sent after the client had been told to pause (must be 0)\n", c.perHost-1)
	fmt.Fprintf(out, "fetched %d/%d pages in %v; pauses recorded by the scheduler: %d\n",
		fetched, c.hosts*c.pages, wall.Round(time.Millisecond), st.Pauses)
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
	s := scheduler.New(scheduler.WithWorkers(c.workers), scheduler.WithKeyLimit(c.perHost))
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
	return h.rep
}

// ServeHTTP answers a page, or 429 when the host is over its limit or
// paused.
func (h *host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	h.mu.Lock()
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
	h.mu.Unlock()

	time.Sleep(2 * time.Millisecond) // render the page
	fmt.Fprintf(w, "<html><body>%s</body></html>\n", r.URL.Path)
}

func tooMany(w http.ResponseWriter, seconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	http.Error(w, "slow down", http.StatusTooManyRequests)
}
