package job_test

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/job"
)

func TestParseRetryAfter(t *testing.T) {
	// now is 30s before the dates of RFC 9110's examples.
	now := time.Date(1994, time.November, 6, 8, 49, 7, 0, time.UTC)
	const maxDuration = time.Duration(math.MaxInt64)

	tests := []struct {
		name   string
		value  string
		now    time.Time
		want   time.Duration
		wantOK bool
	}{
		// delta-seconds
		{"zero", "0", now, 0, true},
		{"seconds", "120", now, 120 * time.Second, true},
		{"leading zeros", "0000000000000000000000000007", now, 7 * time.Second, true},
		{"spaces", " 7 ", now, 7 * time.Second, true},
		{"tabs", "\t7\t", now, 7 * time.Second, true},
		{"largest exact", "9223372036", now, 9223372036 * time.Second, true},
		{"first saturated", "9223372037", now, maxDuration, true},
		{"uint64 overflow", "99999999999999999999", now, maxDuration, true},
		{"very long", strings.Repeat("9", 1000), now, maxDuration, true},
		{"seconds ignore now", "5", time.Time{}, 5 * time.Second, true},

		// neither delta-seconds nor an HTTP-date
		{"empty", "", now, 0, false},
		{"blank", " \t ", now, 0, false},
		{"garbage", "abc", now, 0, false},
		{"negative", "-1", now, 0, false},
		{"negative zero", "-0", now, 0, false},
		{"plus sign", "+3", now, 0, false},
		{"fraction", "1.5", now, 0, false},
		{"exponent", "1e3", now, 0, false},
		{"hex", "0x10", now, 0, false},
		{"inner space", "1 2", now, 0, false},
		{"unit", "120s", now, 0, false},
		{"arabic digit", "٣", now, 0, false},
		{"fullwidth digit", "３", now, 0, false},
		{"newline", "\n7", now, 0, false},
		{"date garbage", "Sun, 06 Nov 1994 08:49:37 XYZ extra", now, 0, false},
		{"date without zone", "Sun, 06 Nov 1994 08:49:37", now, 0, false},

		// HTTP-date
		{"IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", now, 30 * time.Second, true},
		{"RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT", now, 30 * time.Second, true},
		{"asctime", "Sun Nov  6 08:49:37 1994", now, 30 * time.Second, true},
		{"date with spaces", "  Sun, 06 Nov 1994 08:49:37 GMT\t", now, 30 * time.Second, true},
		{"90s ahead", now.Add(90 * time.Second).Format(http.TimeFormat), now, 90 * time.Second, true},
		{"now in another zone", "Sun, 06 Nov 1994 08:49:37 GMT", now.In(time.FixedZone("CET", 3600)), 30 * time.Second, true},
		{"date equals now", "Sun, 06 Nov 1994 08:49:07 GMT", now, 0, true},
		{"date in the past", "Sun, 06 Nov 1994 08:48:07 GMT", now, 0, true},
		{"date far in the past", "Mon, 01 Jan 0001 00:00:00 GMT", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, true},
		{"date beyond max duration", "Fri, 31 Dec 9999 23:59:59 GMT", now, maxDuration, true},
		{"now at zero time", "Sun, 06 Nov 1994 08:49:37 GMT", time.Time{}, maxDuration, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := job.ParseRetryAfter(tt.value, tt.now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q, %v) = %v, %v; want %v, %v",
					tt.value, tt.now, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, v := range []string{
		"", "0", "120", " 7 ", "-1", "1.5", "+3", "٣", "99999999999999999999",
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
		"Fri, 31 Dec 9999 23:59:59 GMT",
	} {
		f.Add(v, int64(784111777))
	}
	f.Fuzz(func(t *testing.T, value string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		got, ok := job.ParseRetryAfter(value, now)
		if got < 0 {
			t.Fatalf("ParseRetryAfter(%q, %v) = %v, %v; want a non-negative duration", value, now, got, ok)
		}
		if !ok && got != 0 {
			t.Fatalf("ParseRetryAfter(%q, %v) = %v, false; want 0 when not ok", value, now, got)
		}
		digits := strings.Trim(value, " \t")
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return
		}
		if want := referenceSeconds(digits); got != want || !ok {
			t.Fatalf("ParseRetryAfter(%q, %v) = %v, %v; want %v, true", value, now, got, ok, want)
		}
	})
}

// referenceSeconds converts a non-empty run of ASCII digits to a Duration of
// that many seconds, saturating at math.MaxInt64, independently of the code
// under test.
func referenceSeconds(digits string) time.Duration {
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}
