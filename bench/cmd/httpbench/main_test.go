package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkHTTPSmoke runs every cell small, with the server in-process, and
// the ok server's cells again under -deadline, so that CI's benchmark step
// (-benchtime=1x) keeps the program working; it
// fails if a call fails, or if httpretry retries before a Retry-After has
// passed. The real measurement is the program itself: see run.sh.
func BenchmarkHTTPSmoke(b *testing.B) {
	c := config{calls: 200, callers: 8, attempts: 4, base: 1e6, cap: 1e8,
		pattern: pattern{Seed: 3, P503: 0.10, P429: 0.01, RetryAfter: 1, FailUntil: 4}}
	cells := cellsFor(false, false)
	for b.Loop() {
		res, err := measure(c, cells, 1, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, cl := range cells {
			r := res[cl.String()][0]
			early := r.server.Early != 0 && strings.HasPrefix(cl.v.name, "httpretry") // measured for the others, required of Rebound
			if r.failed != 0 || early || r.server.Requests < int64(c.calls) {
				b.Errorf("%v: %d calls failed, %d early retries, %d requests for %d calls", cl, r.failed, r.server.Early, r.server.Requests, c.calls)
			}
			if cl.flaky && r.server.S503+r.server.S429 == 0 {
				b.Errorf("%v: the flaky server answered no 503 or 429", cl)
			}
		}
		report(io.Discard, cells, res)

		// The ok server's cells again, each call under a timeout (-deadline).
		dl := c
		dl.deadline = time.Minute
		okCells := cellsFor(false, true)
		res, err = measure(dl, okCells, 1, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, cl := range okCells {
			if r := res[cl.String()][0]; r.failed != 0 || r.server.Requests != int64(c.calls) {
				b.Errorf("%v under a deadline: %d calls failed, %d requests for %d calls", cl, r.failed, r.server.Requests, c.calls)
			}
		}
	}
}
