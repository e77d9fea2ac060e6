package job

import (
	"math"
	"time"
)

// ParseRetryAfter parses the value of an HTTP Retry-After header (RFC 9110,
// section 10.2.3) relative to now, and returns how long to wait and true.
//
// The value is either delta-seconds, a non-empty run of ASCII digits such as
// "120", or an HTTP-date such as "Fri, 31 Dec 1999 23:59:59 GMT" in any of the
// three forms [net/http.ParseTime] accepts (IMF-fixdate, the obsolete RFC 850
// form and ANSI C's asctime form). Leading and trailing spaces and tabs are
// ignored. For anything else (an empty value, garbage, a sign as in "-5" or
// "+5", a fraction as in "1.5", non-ASCII digits) ParseRetryAfter returns 0
// and false.
//
// The result is never negative: a date in the past (or equal to now) gives 0
// and true. It saturates at math.MaxInt64 instead of overflowing, so
// "99999999999999999999" or a date thousands of years ahead gives a huge
// duration, never a wrapped-around one. Bounding the wait is the policy's job
// (its maximum wait or deadline makes the job give up rather than park for
// years), not the parser's.
//
// ParseRetryAfter is a pure function: it reads no clock and is safe for
// concurrent use.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	v := trimBlank(value)
	if v == "" {
		return 0, false
	}
	if d, ok := parseDeltaSeconds(v); ok {
		return d, true
	}
	t, ok := parseHTTPDate(v)
	if !ok {
		return 0, false
	}
	// Time.Sub saturates at the minimum and maximum Duration.
	return max(t.Sub(now), 0), true
}

// httpDateLayouts are the three HTTP-date forms of RFC 9110, section 5.6.7,
// in the order net/http's ParseTime tries them, with the same layouts:
// parsing them with the time package gives ParseTime's results without
// linking net/http into every program that uses job.
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT", // IMF-fixdate, net/http's TimeFormat
	time.RFC850,                     // obsolete RFC 850 form
	time.ANSIC,                      // ANSI C's asctime() form
}

// parseHTTPDate parses v as an HTTP-date, as net/http's ParseTime does.
func parseHTTPDate(v string) (time.Time, bool) {
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// maxDeltaSeconds is the largest number of seconds a Duration can hold.
const maxDeltaSeconds = math.MaxInt64 / int64(time.Second)

// parseDeltaSeconds parses a run of ASCII digits as seconds, saturating at
// math.MaxInt64 nanoseconds. It reports false if v holds anything else.
func parseDeltaSeconds(v string) (time.Duration, bool) {
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		// Stop accumulating once past the limit; more digits only add to it.
		if n <= maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDeltaSeconds {
		return math.MaxInt64, true
	}
	return time.Duration(n) * time.Second, true
}

// trimBlank returns s without leading and trailing spaces and tabs (the
// optional whitespace of RFC 9110).
func trimBlank(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
