// Command httpbench measures retrying HTTP clients against a local server
// (the HTTP scenario of bench/README.md): -calls GETs (default 10,000)
// through -callers concurrent callers (64), each call retried to success.
//
// Two servers, in a process of their own so that the client's allocations
// and CPU time are the client's alone:
//
//   - ok: every request answered 200, to measure what a client costs per
//     request; a plain http.Client is the floor.
//   - flaky: a seeded pattern, the same for every client: a share of
//     attempts answered 503 (-p503, 10%) and 429 with "Retry-After: 1"
//     (-p429, 2%); from attempt -fail-until (4) on every attempt succeeds, so
//     every call succeeds within the clients' 4 attempts. The server counts
//     the retries that came before the Retry-After it gave had passed
//     ("early").
//
// The clients, each with 4 attempts in all and exponential backoff from
// 10 ms (factor 2, at most 1 s), over one http.Transport configuration:
// httpretry (Rebound; keyed by host as by default, and without a key, as
// the other libraries have none), hashicorp/go-retryablehttp and
// failsafe-go's failsafehttp, and the plain http.Client on the ok server.
//
// Each cell (a client against a server) gets a server of its own and warms
// up first (4 calls per caller, every connection opened), then makes its
// calls; "new connections" are those the server accepted after the warm-up.
//
//	go run ./cmd/httpbench                # one run of every cell
//	go run ./cmd/httpbench -runs 5        # medians of 5 runs, as run.sh does
//	go run ./cmd/httpbench -keyed         # also httpretry keyed by host on the flaky server (slow: see README)
//	go run ./cmd/httpbench -ok -deadline 1m  # the ok server, each call under a context with a timeout, as request-scoped callers have
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// config is what the flags set.
type config struct {
	calls    int
	callers  int
	attempts int
	base     time.Duration
	cap      time.Duration
	deadline time.Duration // each call's context's, from its start; 0: none
	pattern  pattern
}

func main() {
	var c config
	serveOnly := flag.Bool("serve", false, "run as the server: print its address, serve until killed")
	inproc := flag.Bool("inproc", false, "run the server in this process (allocations and CPU then include it)")
	runs := flag.Int("runs", 1, "repeat every cell this many times, rotating the order, and report medians")
	keyed := flag.Bool("keyed", false, "also run httpretry keyed by host on the flaky server")
	okOnly := flag.Bool("ok", false, "run only the all-200 server's cells (the per-request overhead)")
	flag.IntVar(&c.calls, "calls", 10_000, "GETs per cell")
	flag.IntVar(&c.callers, "callers", 64, "concurrent callers")
	flag.IntVar(&c.attempts, "attempts", 4, "attempts per call, the first included, for every client")
	flag.DurationVar(&c.base, "base", 10*time.Millisecond, "first backoff delay, for every client")
	flag.DurationVar(&c.cap, "cap", time.Second, "longest backoff delay, for every client")
	flag.DurationVar(&c.deadline, "deadline", 0, "run each call under a context with this timeout, as request-scoped callers do (0: context.Background)")
	flag.Uint64Var(&c.pattern.Seed, "seed", 1, "seed of the flaky server's pattern")
	flag.Float64Var(&c.pattern.P503, "p503", 0.10, "share of attempts answered 503")
	flag.Float64Var(&c.pattern.P429, "p429", 0.02, "share of attempts answered 429 with Retry-After")
	flag.IntVar(&c.pattern.RetryAfter, "retry-after", 1, "Retry-After of a 429, in seconds")
	flag.IntVar(&c.pattern.FailUntil, "fail-until", 4, "attempt from which the flaky server always answers 200")
	flag.Parse()

	if *serveOnly {
		err := serve(c.pattern, c.calls, func(addr string) { fmt.Println(addr) }, nil)
		fmt.Fprintln(os.Stderr, "httpbench server:", err)
		os.Exit(1)
	}
	if c.pattern.FailUntil > c.attempts {
		fmt.Fprintln(os.Stderr, "httpbench: -fail-until must not exceed -attempts: every call must succeed")
		os.Exit(2)
	}
	cells := cellsFor(*keyed, *okOnly)
	res, err := measure(c, cells, *runs, *inproc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
	where := "a child process"
	if *inproc {
		where = "this process"
	}
	ctxOf := "context.Background"
	if c.deadline > 0 {
		ctxOf = fmt.Sprintf("a %v timeout", c.deadline)
	}
	fmt.Printf("httpbench: %d GETs, %d callers, each call under %s, %d attempts, backoff %v..%v; flaky: %.0f%% 503, %.0f%% 429 (Retry-After: %d), seed %d; server in %s; %s, GOMAXPROCS=%d; medians of %d runs\n\n",
		c.calls, c.callers, ctxOf, c.attempts, c.base, c.cap, 100*c.pattern.P503, 100*c.pattern.P429, c.pattern.RetryAfter,
		c.pattern.Seed, where, runtime.Version(), runtime.GOMAXPROCS(0), *runs)
	report(os.Stdout, cells, res)
}

// variant is a client under test.
type variant struct {
	name string
	// make returns the client's GET over base, and what ends the client.
	make func(c config, base http.RoundTripper) (get getFunc, end func())
}

// getFunc GETs url under ctx.
type getFunc func(ctx context.Context, url string) (*http.Response, error)

// clientGet is the getFunc of an http.Client.
func clientGet(c *http.Client) getFunc {
	return func(ctx context.Context, url string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		return c.Do(req)
	}
}

var (
	plain = variant{"net/http Client (no retries)", func(_ config, base http.RoundTripper) (getFunc, func()) {
		return clientGet(&http.Client{Transport: base}), func() {}
	}}
	rebound = variant{"httpretry, keyed by host (default)", func(c config, base http.RoundTripper) (getFunc, func()) {
		tr := httpretry.NewTransport(base, httpretry.WithPolicy(policy(c)))
		return clientGet(&http.Client{Transport: tr}), func() { tr.Close() }
	}}
	reboundNoKey = variant{"httpretry, no key", func(c config, base http.RoundTripper) (getFunc, func()) {
		tr := httpretry.NewTransport(base, httpretry.WithPolicy(policy(c)), httpretry.WithKey(func(*http.Request) string { return "" }))
		return clientGet(&http.Client{Transport: tr}), func() { tr.Close() }
	}}
	retryable = variant{"hashicorp/go-retryablehttp", func(c config, base http.RoundTripper) (getFunc, func()) {
		rc := retryablehttp.NewClient()
		rc.HTTPClient = &http.Client{Transport: base}
		rc.Logger = nil
		rc.RetryMax = c.attempts - 1
		rc.RetryWaitMin, rc.RetryWaitMax = c.base, c.cap
		return func(ctx context.Context, url string) (*http.Response, error) {
			req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			return rc.Do(req)
		}, func() {}
	}}
	failsafe = variant{"failsafe-go failsafehttp", func(c config, base http.RoundTripper) (getFunc, func()) {
		rp := failsafehttp.NewRetryPolicyBuilder().WithBackoff(c.base, c.cap).WithMaxRetries(c.attempts - 1).Build()
		return clientGet(&http.Client{Transport: failsafehttp.NewRoundTripper(base, rp)}), func() {}
	}}
)

// policy is httpretry's policy for the scenario: the attempts and backoff
// every client gets (Rebound's jitter stays its default, full jitter).
func policy(c config) *job.Policy {
	return job.NewPolicy(job.MaxAttempts(c.attempts), job.Wait(wait.Exponential(c.base, 2, c.cap)))
}

// cell is one measurement: a client against a server.
type cell struct {
	flaky bool
	v     variant
}

func (c cell) String() string {
	if c.flaky {
		return "flaky / " + c.v.name
	}
	return "ok / " + c.v.name
}

func cellsFor(keyed, okOnly bool) []cell {
	cells := []cell{
		{false, plain}, {false, rebound}, {false, reboundNoKey}, {false, retryable}, {false, failsafe},
	}
	if okOnly {
		return cells
	}
	cells = append(cells, cell{true, reboundNoKey}, cell{true, retryable}, cell{true, failsafe})
	if keyed {
		cells = append(cells, cell{true, rebound})
	}
	return cells
}

// result is what one cell measured.
type result struct {
	wall   time.Duration
	failed int // calls that did not end with a 200
	server serverStats
	allocs float64 // per call
	bytes  float64 // per call
	cpu    time.Duration
}

// measure runs every cell runs times, rotating their order, and returns
// each cell's results. Each cell gets a server of its own: connections a
// client leaves open (failsafehttp does not close the bodies of the
// responses it retries) end with it and do not slow the next cell down.
func measure(c config, cells []cell, runs int, inproc bool) (map[string][]result, error) {
	res := make(map[string][]result)
	for r := range runs {
		for i := range cells {
			cl := cells[(i+r)%len(cells)]
			addr, stop, err := startServer(c, inproc)
			if err != nil {
				return nil, err
			}
			x, err := run(c, addr, cl)
			stop()
			if err != nil {
				return nil, fmt.Errorf("%v: %v", cl, err)
			}
			res[cl.String()] = append(res[cl.String()], x)
		}
	}
	return res, nil
}

// startServer starts the server, in this process or in a child, and
// returns its address and what stops it.
func startServer(c config, inproc bool) (string, func(), error) {
	if !inproc {
		return child(c.pattern, c.calls)
	}
	stop := make(chan struct{})
	ready := make(chan string)
	done := make(chan error)
	go func() { done <- serve(c.pattern, c.calls, func(a string) { ready <- a }, stop) }()
	select {
	case addr := <-ready:
		return addr, func() {
			close(stop)
			<-done
		}, nil
	case err := <-done:
		return "", nil, err
	}
}

// run measures one cell.
func run(c config, addr string, cl cell) (result, error) {
	control := &http.Client{Transport: &http.Transport{}}
	defer control.CloseIdleConnections()
	base := &http.Transport{MaxIdleConnsPerHost: c.callers}
	get, end := cl.v.make(c, base)
	prefix := "http://" + addr + "/ok/"
	if cl.flaky {
		prefix = "http://" + addr + "/flaky/"
	}
	// Warm up: every caller's connection open, the client's lazy state
	// made; then the server forgets it.
	drive(get, c.callers, "http://"+addr+"/ok/", min(4*c.callers, c.calls), c.deadline)
	if err := fetch(control, "http://"+addr+"/reset", nil); err != nil {
		return result{}, err
	}

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	start := time.Now()
	failed := drive(get, c.callers, prefix, c.calls, c.deadline)
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	end()
	base.CloseIdleConnections()

	var st serverStats
	if err := fetch(control, "http://"+addr+"/stats", &st); err != nil {
		return result{}, err
	}
	n := float64(c.calls)
	return result{
		wall:   wall,
		failed: int(failed),
		server: st,
		allocs: float64(m1.Mallocs-m0.Mallocs) / n,
		bytes:  float64(m1.TotalAlloc-m0.TotalAlloc) / n,
		cpu:    cpu / time.Duration(c.calls),
	}, nil
}

// drive makes calls 0 to n-1 (prefix+id) through get from callers
// goroutines, each taking the next call when it is done with one, each
// under a context with the given timeout (0: context.Background), and
// returns the number of calls that did not end with a 200.
func drive(get getFunc, callers int, prefix string, n int, deadline time.Duration) int64 {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				id := int(next.Add(1) - 1)
				if id >= n {
					return
				}
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if deadline > 0 {
					ctx, cancel = context.WithTimeout(ctx, deadline)
				}
				resp, err := get(ctx, prefix+strconv.Itoa(id))
				if err != nil {
					cancel()
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				cancel()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

// fetch GETs url and decodes its JSON into v (nil: discards it).
func fetch(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median[T ~int64 | ~float64 | ~int](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// med returns the median of f over rs.
func med[T ~int64 | ~float64 | ~int](rs []result, f func(result) T) T {
	xs := make([]T, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

// report prints the table and the goals.
func report(w io.Writer, cells []cell, res map[string][]result) {
	fmt.Fprintln(w, "| server | client | wall | requests sent | early retries | failed calls | new connections | allocs/call | B/call | client CPU/call |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, cl := range cells {
		rs := res[cl.String()]
		srv := "ok"
		if cl.flaky {
			srv = "flaky"
		}
		fmt.Fprintf(w, "| %s | %s | %v | %d | %d | %d | %d | %.1f | %.0f | %.1f µs |\n", srv, cl.v.name,
			time.Duration(med(rs, func(r result) int64 { return int64(r.wall) })).Round(time.Millisecond),
			med(rs, func(r result) int64 { return r.server.Requests }),
			med(rs, func(r result) int64 { return r.server.Early }),
			med(rs, func(r result) int { return r.failed }),
			med(rs, func(r result) int64 { return r.server.Conns }),
			med(rs, func(r result) float64 { return r.allocs }),
			med(rs, func(r result) float64 { return r.bytes }),
			float64(med(rs, func(r result) int64 { return int64(r.cpu) }))/1e3)
	}
	wall := func(flaky bool, v variant) float64 {
		return float64(med(res[cell{flaky, v}.String()], func(r result) int64 { return int64(r.wall) }))
	}
	cpu := func(flaky bool, v variant) float64 {
		return float64(med(res[cell{flaky, v}.String()], func(r result) int64 { return int64(r.cpu) }))
	}
	// paired is the median over runs of the ratio within one run: each
	// run measures every cell within seconds, so a machine that is slower
	// for a while weighs on both sides of a ratio.
	paired := func(num, den cell, of func(result) int64) float64 {
		a, b := res[num.String()], res[den.String()]
		rs := make([]float64, 0, len(a))
		for i := range min(len(a), len(b)) {
			rs = append(rs, float64(of(a[i]))/float64(of(b[i])))
		}
		return median(rs)
	}
	wallOf := func(r result) int64 { return int64(r.wall) }
	cpuOf := func(r result) int64 { return int64(r.cpu) }
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio | wall (of medians) | client CPU (of medians) | wall (median of paired runs) | client CPU (median of paired runs) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, v := range []variant{rebound, reboundNoKey, retryable, failsafe} {
		fmt.Fprintf(w, "| ok: %s / plain | %.2f | %.2f | %.2f | %.2f |\n", v.name, wall(false, v)/wall(false, plain), cpu(false, v)/cpu(false, plain),
			paired(cell{false, v}, cell{false, plain}, wallOf), paired(cell{false, v}, cell{false, plain}, cpuOf))
	}
	if len(res[cell{true, reboundNoKey}.String()]) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio (medians) | wall | client CPU |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, v := range []variant{retryable, failsafe} {
		fmt.Fprintf(w, "| flaky: httpretry, no key / %s | %.2f | %.2f |\n", v.name, wall(true, reboundNoKey)/wall(true, v), cpu(true, reboundNoKey)/cpu(true, v))
	}
}
