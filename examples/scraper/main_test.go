package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// row is one host's line of the report.
type row struct {
	host                                             string
	limit, pages, requests, tooMany, inFlight, while int
	perSecond                                        float64
}

var rowRE = regexp.MustCompile(`(?m)^(127\.0\.0\.1:\d+)\s+(\d+)/s\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(\d+\.\d)$`)

// runScraper runs the scraper with args and returns its output and host rows.
func runScraper(t *testing.T, args ...string) (string, []row) {
	t.Helper()
	var out bytes.Buffer
	if code := run(args, &out); code != 0 {
		t.Fatalf("run = %d, want 0; output:\n%s", code, &out)
	}
	text := out.String()
	t.Logf("output:\n%s", text)
	var rows []row
	for _, m := range rowRE.FindAllStringSubmatch(text, -1) {
		var n [6]int
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+2])
		}
		ps, _ := strconv.ParseFloat(m[8], 64)
		rows = append(rows, row{m[1], n[0], n[1], n[2], n[3], n[4], n[5], ps})
	}
	return text, rows
}

// TestScraperHonoursPause: keyed by host, the scraper fetches every page
// and sends no request to a host that has told it to pause.
func TestScraperHonoursPause(t *testing.T) {
	text, rows := runScraper(t, "-hosts", "3", "-pages", "12", "-limit", "5", "-per-host", "2")
	if want := "  in flight: requests already on their way when their host's pause began"; !strings.Contains(text, want) {
		t.Errorf("output lacks the legend of the in flight column, %q", want)
	}
	if len(rows) != 3 {
		t.Fatalf("report has %d host rows, want 3", len(rows))
	}
	for _, r := range rows {
		if r.pages != 12 {
			t.Errorf("%s: pages = %d, want 12", r.host, r.pages)
		}
		if r.while != 0 {
			t.Errorf("%s: %d requests sent while paused, want 0", r.host, r.while)
		}
		if r.inFlight > r.tooMany {
			t.Errorf("%s: %d in flight at a pause, more than the %d 429s", r.host, r.inFlight, r.tooMany)
		}
		if r.requests != r.pages+r.tooMany {
			t.Errorf("%s: requests = %d, want pages + 429s = %d", r.host, r.requests, r.pages+r.tooMany)
		}
	}
	// Host 0 allows 5 requests a second for 12 pages: it must have paused
	// the scraper at least twice.
	if rows[0].tooMany < 2 {
		t.Errorf("%s: %d 429s, want >= 2", rows[0].host, rows[0].tooMany)
	}
}

// TestScraperNaive: without keys, the other jobs of a host do not know of
// its 429s, and the hosts see requests while paused. This shows that the
// check above can fail.
func TestScraperNaive(t *testing.T) {
	_, rows := runScraper(t, "-hosts", "2", "-pages", "12", "-limit", "5", "-per-host", "2", "-naive")
	total := 0
	for _, r := range rows {
		total += r.while
	}
	if total == 0 {
		t.Errorf("naive scraper sent no request while paused; the check is not sensitive")
	}
}

// checkPolite checks what every keyed mode must show: every page fetched,
// each request counted once, and none sent while its host had said to
// pause. It returns the 429s of all hosts.
func checkPolite(t *testing.T, rows []row, hosts, pages int) int {
	t.Helper()
	if len(rows) != hosts {
		t.Fatalf("report has %d host rows, want %d", len(rows), hosts)
	}
	tooMany := 0
	for _, r := range rows {
		if r.pages != pages {
			t.Errorf("%s: pages = %d, want %d", r.host, r.pages, pages)
		}
		if r.while != 0 {
			t.Errorf("%s: %d requests sent while paused, want 0", r.host, r.while)
		}
		if r.requests != r.pages+r.tooMany {
			t.Errorf("%s: requests = %d, want pages + 429s = %d", r.host, r.requests, r.pages+r.tooMany)
		}
		if r.perSecond <= 0 {
			t.Errorf("%s: %v pages/s, want > 0", r.host, r.perSecond)
		}
		tooMany += r.tooMany
	}
	return tooMany
}

// TestScraperRate: paced below every host's limit (-rate), the scraper
// gets no 429 at all, and no host serves faster than the rate.
func TestScraperRate(t *testing.T) {
	const rate = 8 // host 0 allows 10 a second, host 1 15
	text, rows := runScraper(t, "-hosts", "2", "-pages", "12", "-limit", "10", "-rate", strconv.Itoa(rate))
	if want := "each paced at 8 requests/s (-rate)"; !strings.Contains(text, want) {
		t.Errorf("output lacks the mode, %q", want)
	}
	if n := checkPolite(t, rows, 2, 12); n != 0 {
		t.Errorf("paced at %d/s below every limit: %d 429s, want 0", rate, n)
	}
	for _, r := range rows {
		// 12 pages at 8 a second: 11 gaps of 1/8 s, at most 8.7 pages/s.
		if r.perSecond > rate*12.0/11*1.02 {
			t.Errorf("%s: %.1f pages/s, want at most the rate, %d/s", r.host, r.perSecond, rate)
		}
	}
}

// TestScraperAdaptive: -adaptive stays polite (no request while a host had
// said to pause, every page fetched) and receives far fewer 429s than
// unpaced on the same seeded workload: once a host's rate has been learnt
// from its first 429s, the scheduler paces it instead of bursting into it
// after every pause. The workload is long enough (15 and 10 seconds of a
// host's capacity) for the learnt rate to matter; each of these hosts' 429s
// carries Retry-After: 1, so every probe past the limit still costs one.
func TestScraperAdaptive(t *testing.T) {
	args := []string{"-hosts", "2", "-pages", "150", "-limit", "10", "-per-host", "4", "-seed", "7"}
	var unpaced, adaptive int
	t.Run("modes", func(t *testing.T) { // both at once: each has hosts of its own
		t.Run("unpaced", func(t *testing.T) {
			t.Parallel()
			_, rows := runScraper(t, args...)
			unpaced = checkPolite(t, rows, 2, 150)
		})
		t.Run("adaptive", func(t *testing.T) {
			t.Parallel()
			text, rows := runScraper(t, append(args, "-adaptive")...)
			if want := "each paced adaptively (-adaptive)"; !strings.Contains(text, want) {
				t.Errorf("output lacks the mode, %q", want)
			}
			adaptive = checkPolite(t, rows, 2, 150)
		})
	})
	if t.Failed() {
		return
	}
	if unpaced < 10 {
		t.Fatalf("without pacing: %d 429s, want many (150 pages at 10 and 15 a second)", unpaced)
	}
	if 3*adaptive > 2*unpaced {
		t.Errorf("429s: %d without pacing, %d with -adaptive; want at most two thirds (runs here: about a half)", unpaced, adaptive)
	}
}
