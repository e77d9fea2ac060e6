package job_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/job"
)

// httpDateSeeds are HTTP-dates and near misses, including the corners of
// time.Parse that net/http.ParseTime inherits: case-insensitive names,
// runs of spaces, one-digit hours and days, fractional seconds, a weekday
// that does not match the date, zones other than GMT in the RFC 850 form.
var httpDateSeeds = []struct {
	value  string
	wantOK bool // whether net/http.ParseTime accepts it
}{
	{"Sun, 06 Nov 1994 08:49:37 GMT", true},
	{"Sunday, 06-Nov-94 08:49:37 GMT", true},
	{"Sun Nov  6 08:49:37 1994", true},
	{"Sun Nov 6 08:49:37 1994", true},
	{"Sun Nov 16 08:49:37 1994", true},
	{"Sun Nov 06 08:49:37 1994", true},
	{"sun, 06 nov 1994 08:49:37 GMT", true},
	{"Sun,   06 Nov 1994 08:49:37 GMT", true},
	{"Sun, 06 Nov 1994 8:49:37 GMT", true},
	{"Sun, 06 Nov 1994 08:49:37.5 GMT", true},
	{"Sun, 06 Nov 1994 08:49:37,123456789 GMT", true},
	{"Mon, 06 Nov 1994 08:49:37 GMT", true},
	{"Sunday, 06-Nov-94 08:49:37 UTC", true},
	{"Sunday, 06-Nov-94 08:49:37 PST", true},
	{"Sunday, 06-Nov-94 08:49:37 +0100", false},
	{"Sunday, 06-Nov-69 08:49:37 GMT", true},
	{"Sunday, 06-Nov-68 08:49:37 GMT", true},
	{"Fri, 31 Dec 9999 23:59:59 GMT", true},
	{"Mon, 01 Jan 0001 00:00:00 GMT", true},
	{"Sun, 06 Nov 1994 08:49:37 gmt", false},
	{"Sun, 06 Nov 1994 08:49:37 UTC", false},
	{"Sun, 6 Nov 1994 08:49:37 GMT", false},
	{"Sun, 06 Nov 94 08:49:37 GMT", false},
	{"Sun, 30 Feb 1994 08:49:37 GMT", false},
	{"Sun, 06 Nov 1994 24:00:00 GMT", false},
	{"Sun, 06 Nov 1994 23:59:60 GMT", false},
	{"Sun, 06 Nov 1994 08:49 GMT", false},
	{"Sun, 06 Nov 1994 08:49:37 GMT extra", false},
	{"Xyz, 06 Nov 1994 08:49:37 GMT", false},
	{"Sun, 06 Nov 1994", false},
	{"Sunday, 06-Nov-1994 08:49:37 GMT", false},
	{"Sun Nov  6 08:49:37 94", false},
	{"Nov  6 08:49:37 1994", false},
	{"", false},
}

// referenceRetryAfter is what ParseRetryAfter returned when it parsed
// HTTP-dates with net/http.ParseTime: the wait until the date, at least 0.
// value is blank-trimmed and not delta-seconds.
func referenceRetryAfter(value string, now time.Time) (time.Duration, bool) {
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// TestParseRetryAfterHTTPDate: HTTP-dates parse exactly as with
// net/http.ParseTime, which job no longer imports.
func TestParseRetryAfterHTTPDate(t *testing.T) {
	nows := []time.Time{
		time.Date(1994, time.November, 6, 8, 49, 7, 0, time.UTC),
		time.Date(1994, time.November, 6, 8, 49, 37, 0, time.FixedZone("CET", 3600)),
		{},
	}
	for _, s := range httpDateSeeds {
		for _, now := range nows {
			want, wantOK := referenceRetryAfter(s.value, now)
			if wantOK != s.wantOK {
				t.Fatalf("http.ParseTime(%q) ok = %v, the table says %v", s.value, wantOK, s.wantOK)
			}
			got, ok := job.ParseRetryAfter(s.value, now)
			if got != want || ok != wantOK {
				t.Errorf("ParseRetryAfter(%q, %v) = %v, %v; want %v, %v (as with http.ParseTime)",
					s.value, now, got, ok, want, wantOK)
			}
		}
	}
}

// FuzzParseRetryAfterHTTPDate compares ParseRetryAfter on every value that
// is not delta-seconds with the result of net/http.ParseTime.
func FuzzParseRetryAfterHTTPDate(f *testing.F) {
	for _, s := range httpDateSeeds {
		f.Add(s.value, int64(784111777))
	}
	f.Add(" \tSun, 06 Nov 1994 08:49:37 GMT ", int64(0))
	f.Fuzz(func(t *testing.T, value string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		v := strings.Trim(value, " \t")
		if v != "" && strings.Trim(v, "0123456789") == "" {
			return // delta-seconds: FuzzParseRetryAfter
		}
		want, wantOK := referenceRetryAfter(v, now)
		got, ok := job.ParseRetryAfter(value, now)
		if got != want || ok != wantOK {
			t.Fatalf("ParseRetryAfter(%q, %v) = %v, %v; want %v, %v (as with http.ParseTime)",
				value, now, got, ok, want, wantOK)
		}
	})
}
