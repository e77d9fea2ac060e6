// Command goals reads the output of the benchmarks (go test -bench, any
// -count) and prints the benchmark goals as a Markdown table: each
// ratio is of medians taken over the runs in the file, so both sides of a
// ratio come from the same run of the suite.
//
//	go run ./cmd/goals results/bench.txt
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// suffix is the -GOMAXPROCS suffix of a benchmark name.
var suffix = regexp.MustCompile(`-\d+$`)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goals BENCH_OUTPUT")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "goals:", err)
		os.Exit(1)
	}
	defer f.Close()

	// values[name][unit] are the measurements of every run.
	values := map[string]map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := suffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		if values[name] == nil {
			values[name] = map[string][]float64{}
		}
		// fields[1] is the iteration count; then value-unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			values[name][fields[i+1]] = append(values[name][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "goals:", err)
		os.Exit(1)
	}

	median := func(name, unit string) float64 {
		v := slices.Clone(values[name][unit])
		if len(v) == 0 {
			fmt.Fprintf(os.Stderr, "goals: no %s for %s in %s\n", unit, name, os.Args[1])
			os.Exit(1)
		}
		slices.Sort(v)
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}

	type goal struct {
		what     string
		num, den [2]string // name, unit; den[0] == "" for an absolute figure
		target   float64
	}
	goals := []goal{
		{"job.Do success path / sethvargo", [2]string{"WrapperSuccess/rebound", "ns/op"}, [2]string{"WrapperSuccess/sethvargo", "ns/op"}, 0.3},
		{"job.Do retry path / hand timer loop", [2]string{"WrapperRetry/rebound", "ns/op"}, [2]string{"WrapperRetry/hand-timer", "ns/op"}, 1.05},
		{"Submit+Wait / pond Go (ns/job)", [2]string{"FanOut/rebound-submit", "ns/job"}, [2]string{"FanOut/pond-go", "ns/job"}, 1.0},
		{"Submit+Wait / pond Submit+Wait (ns/job)", [2]string{"FanOut/rebound-submit", "ns/job"}, [2]string{"FanOut/pond-submit", "ns/job"}, 0.5},
		{"Map / pond Go (ns/job)", [2]string{"FanOut/rebound-map", "ns/job"}, [2]string{"FanOut/pond-go", "ns/job"}, 0.8},
		{"Submit+Wait, ctx per job / pond Go, same ctxs (ns/job)", [2]string{"FanOut/rebound-submit-ctx", "ns/job"}, [2]string{"FanOut/pond-go-ctx", "ns/job"}, 1.3},
		{"Submit+Wait allocs/job", [2]string{"FanOut/rebound-submit", "allocs/job"}, [2]string{}, 3},
		{"Map allocs/job", [2]string{"FanOut/rebound-map", "allocs/job"}, [2]string{}, 3},
	}
	fmt.Println("| goal | Rebound | other | ratio | target | met |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	for _, g := range goals {
		a := median(g.num[0], g.num[1])
		if g.den[0] == "" {
			// Per-iteration allocations (the result slice, Map's channel)
			// amortise to a few thousandths of one per job: judge the
			// figure as printed.
			a = math.Round(a*100) / 100
			fmt.Printf("| %s | %.2f | | | <= %g | %s |\n", g.what, a, g.target, met(a <= g.target))
			continue
		}
		b := median(g.den[0], g.den[1])
		fmt.Printf("| %s | %.4g %s | %.4g %s | %.2f | <= %g | %s |\n", g.what, a, g.num[1], b, g.den[1], a/b, g.target, met(a/b <= g.target))
	}
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
