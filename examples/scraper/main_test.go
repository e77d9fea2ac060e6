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
}

var rowRE = regexp.MustCompile(`(?m)^(127\.0\.0\.1:\d+)\s+(\d+)/s\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+$`)

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
		rows = append(rows, row{m[1], n[0], n[1], n[2], n[3], n[4], n[5]})
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
