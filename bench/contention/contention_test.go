package contention

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

// Ns are the client counts of the full experiment.
var Ns = []int{10, 20, 30, 40, 50, 75, 100}

// simulate runs runs seeded runs (seeds 1..runs, the same for every variant
// and N) of v with n clients, inside one synctest bubble.
func simulate(t *testing.T, v Variant, n, runs int) Cell {
	t.Helper()
	outs := make([]Outcome, 0, runs)
	synctest.Test(t, func(t *testing.T) {
		for seed := 1; seed <= runs; seed++ {
			o, err := Run(v, n, uint64(seed))
			if err != nil {
				t.Fatalf("%s N=%d seed %d: %v", v.Name, n, seed, err)
			}
			if o.Calls < n || o.Time <= 0 {
				t.Fatalf("%s N=%d seed %d: %+v: want at least one call per client and a positive time", v.Name, n, seed, o)
			}
			outs = append(outs, o)
		}
	})
	return Mean(v.Name, n, outs)
}

// sweep simulates every variant at every n, in parallel subtests, and
// returns the cells in variant-major order.
func sweep(t *testing.T, ns []int, runs int) []Cell {
	var mu sync.Mutex
	got := map[key]Cell{}
	t.Run("sweep", func(t *testing.T) {
		for _, v := range Variants {
			for _, n := range ns {
				t.Run(fmt.Sprintf("%s/N=%d", v.Name, n), func(t *testing.T) {
					t.Parallel()
					c := simulate(t, v, n, runs)
					mu.Lock()
					got[key{v.Name, n}] = c
					mu.Unlock()
				})
			}
		}
	})
	var cells []Cell
	for _, v := range Variants {
		for _, n := range ns {
			cells = append(cells, got[key{v.Name, n}])
		}
	}
	return cells
}

// TestContention is the full experiment: every variant at every N of Ns,
// REBOUND_CONTENTION_RUNS seeded runs each (default 1000). It writes
// contention.md (the tables and the published conclusions checked) and
// contention.svg into REBOUND_CONTENTION_OUT (default ../results). It runs
// only when REBOUND_CONTENTION=1:
//
//	REBOUND_CONTENTION=1 go test -run '^TestContention$' -v ./contention
func TestContention(t *testing.T) {
	if os.Getenv("REBOUND_CONTENTION") != "1" {
		t.Skip("set REBOUND_CONTENTION=1 to run the full experiment")
	}
	runs := 1000
	if s := os.Getenv("REBOUND_CONTENTION_RUNS"); s != "" {
		var err error
		if runs, err = strconv.Atoi(s); err != nil || runs < 1 {
			t.Fatalf("REBOUND_CONTENTION_RUNS=%q: want a positive integer", s)
		}
	}
	out := os.Getenv("REBOUND_CONTENTION_OUT")
	if out == "" {
		out = filepath.Join("..", "results")
	}
	start := time.Now()
	cells := sweep(t, Ns, runs)
	if t.Failed() {
		return
	}
	elapsed := time.Since(start)

	var md bytes.Buffer
	fmt.Fprintf(&md, "# Contention experiment (AWS \"Exponential Backoff And Jitter\")\n\n")
	fmt.Fprintf(&md, "Mean of %d seeded runs per cell (seeds 1..%d, the same for every variant and N); "+
		"base %v, cap %v, one-way network delay |Normal(%v, sd %v)|. "+
		"Simulated with testing/synctest on Rebound's scheduler: %s, GOMAXPROCS=%d, %v of real time for all %d runs.\n\n",
		runs, runs, Base, Cap, NetMean, NetStdDev, runtime.Version(), runtime.GOMAXPROCS(0), elapsed.Round(time.Second), runs*len(cells))
	Table(&md, cells)
	fmt.Fprintf(&md, "\nThe published conclusions, checked at N=%d:\n\n| claim | measured | holds |\n|---|---|---|\n", Ns[len(Ns)-1])
	for _, c := range Checks(cells) {
		mark := "yes"
		if !c.Holds {
			mark = "**no**"
		}
		fmt.Fprintf(&md, "| %s | %s | %s |\n", c.Claim, c.Measured, mark)
	}
	var svg bytes.Buffer
	SVG(&svg, cells, fmt.Sprintf("Backoff under contention on Rebound: N clients, one row, mean of %d runs", runs))

	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"contention.md": md.Bytes(), "contention.svg": svg.Bytes()} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %s and contention.svg\n%s", filepath.Join(out, "contention.md"), md.String())
}

// TestContentionQuick runs a few seeded runs of every variant at two small
// Ns, and checks what must hold in any run: every client succeeds, each
// write is counted, and no backoff at all is never slower than exponential
// without jitter (they make the same calls; exponential only waits longer).
func TestContentionQuick(t *testing.T) {
	cells := sweep(t, []int{10, 30}, 10)
	if t.Failed() {
		return
	}
	var md bytes.Buffer
	Table(&md, cells)
	t.Logf("\n%s", md.String())
	at := index(cells)
	for _, n := range []int{10, 30} {
		if none, expo := at[key{"none", n}], at[key{"exponential", n}]; none.Time > expo.Time {
			t.Errorf("N=%d: no backoff took %v, exponential %v: want no backoff at least as fast", n, none.Time, expo.Time)
		}
	}
	var svg bytes.Buffer
	SVG(&svg, cells, "quick")
	if !bytes.HasPrefix(svg.Bytes(), []byte("<svg")) || !bytes.HasSuffix(svg.Bytes(), []byte("</svg>\n")) {
		t.Errorf("SVG is not a complete <svg> element")
	}
}

// BenchmarkContention keeps the experiment from rotting in CI, whose
// benchmark step runs no tests: synctest.Test needs a *testing.T, so the
// benchmark runs TestContentionQuick in a child process of this test binary
// and fails if it fails.
func BenchmarkContention(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestContentionQuick$", "-test.count=1")
		cmd.Env = append(os.Environ(), "REBOUND_CONTENTION=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("TestContentionQuick: %v\n%s", err, out)
		}
	}
}
