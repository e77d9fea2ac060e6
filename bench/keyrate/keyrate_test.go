package keyrate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// simulate runs runs seeded runs (seeds 1..runs, the same for every
// variant) of v under th, inside one synctest bubble, and checks that
// every job succeeded.
func simulate(t *testing.T, v Variant, th Throttle, jobsPerHost, runs int) []Cell {
	t.Helper()
	outs := make([]Outcome, 0, runs)
	synctest.Test(t, func(t *testing.T) {
		for seed := 1; seed <= runs; seed++ {
			o, err := Run(v, th, jobsPerHost, uint64(seed), 0)
			if err != nil {
				t.Fatalf("%s, %s, seed %d: %v", v.Name, th.Name, seed, err)
			}
			for i, h := range o.Hosts {
				if h.Succeeded != jobsPerHost || h.Attempts != h.Succeeded+h.Throttled {
					t.Fatalf("%s, %s, seed %d, host %s: %+v: want %d successes and every request counted once",
						v.Name, th.Name, seed, Hosts[i].Name, h, jobsPerHost)
				}
			}
			outs = append(outs, o)
		}
	})
	return Mean(v.Name, th.Name, outs)
}

// sweep simulates every variant under every kind of throttle, in parallel
// subtests, and returns the cells in variant-major order.
func sweep(t *testing.T, variants []Variant, jobsPerHost, runs int) []Cell {
	var mu sync.Mutex
	got := map[[2]string][]Cell{}
	t.Run("sweep", func(t *testing.T) {
		for _, v := range variants {
			for _, th := range Throttles {
				t.Run(v.Name+"/"+th.Name, func(t *testing.T) {
					t.Parallel()
					cs := simulate(t, v, th, jobsPerHost, runs)
					mu.Lock()
					got[[2]string{v.Name, th.Name}] = cs
					mu.Unlock()
				})
			}
		}
	})
	var cells []Cell
	for _, th := range Throttles {
		for _, v := range variants {
			cells = append(cells, got[[2]string{v.Name, th.Name}]...)
		}
	}
	return cells
}

// trace runs seed 1 of v under th once more, sampling every interval.
func trace(t *testing.T, v Variant, th Throttle, interval time.Duration) []Sample {
	var samples []Sample
	synctest.Test(t, func(t *testing.T) {
		o, err := Run(v, th, JobsPerHost, 1, interval)
		if err != nil {
			t.Fatalf("trace of %s, %s: %v", v.Name, th.Name, err)
		}
		samples = o.Trace
	})
	return samples
}

// TestKeyRate is the full experiment: every variant and side variant
// under both kinds of throttle, REBOUND_KEYRATE_RUNS seeded runs each
// (default 20). It writes keyrate.md (the tables, the goals checked, the
// client-wide limiter's slowdown and a trace of one run) and keyrate.svg
// into REBOUND_KEYRATE_OUT (default ../results). It runs only when
// REBOUND_KEYRATE=1:
//
//	REBOUND_KEYRATE=1 go test -run '^TestKeyRate$' -v ./keyrate
func TestKeyRate(t *testing.T) {
	if os.Getenv("REBOUND_KEYRATE") != "1" {
		t.Skip("set REBOUND_KEYRATE=1 to run the full experiment")
	}
	runs := 20
	if s := os.Getenv("REBOUND_KEYRATE_RUNS"); s != "" {
		var err error
		if runs, err = strconv.Atoi(s); err != nil || runs < 1 {
			t.Fatalf("REBOUND_KEYRATE_RUNS=%q: want a positive integer", s)
		}
	}
	out := os.Getenv("REBOUND_KEYRATE_OUT")
	if out == "" {
		out = filepath.Join("..", "results")
	}
	start := time.Now()
	all := append(append([]Variant(nil), Variants...), SideVariants...)
	cells := sweep(t, all, JobsPerHost, runs)
	if t.Failed() {
		return
	}
	perKey := Variants[len(Variants)-1]
	buckets := bucketSweep(t, perKey, Throttles[1], JobsPerHost, runs)
	if t.Failed() {
		return
	}
	const every = 500 * time.Millisecond
	traces := make([][]Sample, len(Throttles))
	for i, th := range Throttles {
		traces[i] = trace(t, perKey, th, every)
	}
	elapsed := time.Since(start)

	var md bytes.Buffer
	fmt.Fprintf(&md, "# Key rates: pacing hosts of unknown capacity\n\n")
	fmt.Fprintf(&md, "Three hosts (token buckets of %g, %g and %g requests/s, each holding %v of its capacity), "+
		"%d jobs per host submitted interleaved at t=0, %d workers, a round trip of %v, "+
		"every job retried until it succeeds (exponential backoff %v to %v, full jitter). "+
		"Mean of %d seeded runs per cell (seeds 1..%d, the same for every variant). "+
		"Simulated with testing/synctest on Rebound's scheduler: %s, GOMAXPROCS=%d, %v of real time for all %d runs and the traces.\n\n",
		Hosts[0].Capacity, Hosts[1].Capacity, Hosts[2].Capacity, BurstWindow, JobsPerHost, Workers, RTT, Base, Cap,
		runs, runs, runtime.Version(), runtime.GOMAXPROCS(0), elapsed.Round(time.Second), runs*len(all)*len(Throttles))
	fmt.Fprintf(&md, "Capacity used = a host's successes per second over its busy period (its first request to its last success) "+
		"divided by its capacity (the bucket's initial %v can put it slightly above 100%%); throttled = throttled requests / all requests; "+
		"last success = when the client got the host's last success (simulated seconds).\n\n", BurstWindow)
	Table(&md, cells)
	fmt.Fprintf(&md, "\n## Goals for %s\n\n", perKey.Name)
	GoalTable(&md, cells, perKey.Name)
	fmt.Fprintf(&md, "\n## Under Retry-After, the server's bucket decides\n\n")
	fmt.Fprintf(&md, "%s under %s, to servers whose buckets hold more or less of their capacity (mean of %d runs each). "+
		"A key is unrestricted until its first throttle, so every host throttles it at the start and pauses it for the hint; "+
		"the server refills only its bucket meanwhile. The bound is the most a client can use that is throttled that once and never again "+
		"(OnePauseBound: the busy period is at least the pause plus the jobs the two buckets did not serve at the host's capacity); "+
		"each further throttle costs another pause.\n\n", perKey.Name, Throttles[1].Name, runs)
	BucketTable(&md, buckets, JobsPerHost, Hint)
	fmt.Fprintf(&md, "\n## One client-wide limiter against one per key\n\n")
	Slowdown(&md, cells, Variants[2].Name, perKey.Name, JobsPerHost)
	for i, th := range Throttles {
		fmt.Fprintf(&md, "\n## Trace: %s, over capacity %s, seed 1\n\n", perKey.Name, th.Name)
		fmt.Fprintf(&md, "Sampled every %v: each key's rate at the sample (- : not paced), and its requests "+
			"and throttles per second over the %v before it.\n\n", every, every)
		TraceTable(&md, traces[i], every, traceTimes)
	}
	var svg bytes.Buffer
	SVG(&svg, cells, fmt.Sprintf("Pacing three hosts of unknown capacity (20, 100, 500/s): mean of %d runs", runs))

	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"keyrate.md": md.Bytes(), "keyrate.svg": svg.Bytes()} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %s and keyrate.svg\n%s", filepath.Join(out, "keyrate.md"), md.String())
}

// bucketBuckets are the server buckets of the sensitivity sweep.
var bucketBuckets = []time.Duration{30 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second}

// bucketSweep simulates v under th to servers of every bucket in
// bucketBuckets, in parallel subtests.
func bucketSweep(t *testing.T, v Variant, th Throttle, jobsPerHost, runs int) []BucketCell {
	got := make([]BucketCell, len(bucketBuckets))
	t.Run("buckets", func(t *testing.T) {
		for i, b := range bucketBuckets {
			t.Run(b.String(), func(t *testing.T) {
				t.Parallel()
				got[i] = BucketCell{Bucket: b, Cells: simulate(t, v, th.WithBucket(b), jobsPerHost, runs)}
			})
		}
	})
	return got
}

// traceTimes are the rows of the trace tables.
var traceTimes = func() []time.Duration {
	var ts []time.Duration
	for _, s := range []float64{0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 150, 200, 300, 500, 1000, 2000, 5000} {
		ts = append(ts, time.Duration(s*float64(time.Second)))
	}
	return ts
}()

// TestKeyRateQuick runs every variant small (a tenth of the jobs, two
// seeded runs) and checks what holds whatever the pacing algorithm: every
// job succeeds and each request is counted once (simulate); a fixed 50/s
// never throttles the hosts that take more and uses at most its share of
// them; without pacing, most requests to the slowest host are throttled.
func TestKeyRateQuick(t *testing.T) {
	const jobs = JobsPerHost / 10
	all := append(append([]Variant(nil), Variants...), SideVariants...)
	cells := sweep(t, all, jobs, 2)
	if t.Failed() {
		return
	}
	var md bytes.Buffer
	Table(&md, cells)
	t.Logf("\n%s", md.String())
	at := index(cells)
	for _, th := range Throttles {
		for _, h := range Hosts[1:] {
			c := at[key{"fixed 50/s", th.Name, h.Name}]
			if c.Throttled != 0 {
				t.Errorf("fixed 50/s, %s, host %s: %.1f%% throttled, want none (capacity %g/s)", th.Name, h.Name, 100*c.Throttled, h.Capacity)
			}
			// At most FixedRate, and the client's burst on top.
			if limit := FixedRate / h.Capacity * jobs / (jobs - FixedBurst); c.Goodput > limit*1.05 {
				t.Errorf("fixed 50/s, %s, host %s: %.0f%% of capacity used, want at most %.0f%%", th.Name, h.Name, 100*c.Goodput, 100*limit)
			}
		}
		if c := at[key{"none", th.Name, Hosts[0].Name}]; c.Throttled < 0.5 {
			t.Errorf("none, %s, host %s: %.1f%% throttled, want most", th.Name, Hosts[0].Name, 100*c.Throttled)
		}
	}
	var svg bytes.Buffer
	SVG(&svg, cells, "quick")
	if !bytes.HasPrefix(svg.Bytes(), []byte("<svg")) || !bytes.HasSuffix(svg.Bytes(), []byte("</svg>\n")) {
		t.Errorf("SVG is not a complete <svg> element")
	}
}

// BenchmarkKeyRate keeps the experiment from rotting in CI, whose
// benchmark step runs no tests: synctest.Test needs a *testing.T, so the
// benchmark runs TestKeyRateQuick in a child process of this test binary
// and fails if it fails.
func BenchmarkKeyRate(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeyRateQuick$", "-test.count=1")
		cmd.Env = append(os.Environ(), "REBOUND_KEYRATE=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("TestKeyRateQuick: %v\n%s", err, out)
		}
	}
}
