package httpretry

import (
	"math"
	"net/http"
	"time"

	"github.com/rebound-go/rebound/job"
)

// RateLimitPause reads the rate-limit headers of a response, as servers send
// them on successes too, and reports how long the client should stay away:
// when "RateLimit-Remaining: 0" comes with a RateLimit-Reset, or
// "X-RateLimit-Remaining: 0" with an X-RateLimit-Reset, it returns the time
// until that reset and true (the later of the two when both pairs say so).
// Otherwise it returns 0 and false.
//
// A reset is a number of seconds, digits with an optional fraction ("30",
// "1.5"), after surrounding spaces and tabs are trimmed; a value above 10^9
// is a Unix time in seconds instead (as GitHub sends X-RateLimit-Reset), and
// the pause runs until then. A reset in the past gives 0 and true; a huge one
// saturates at math.MaxInt64 instead of overflowing. Anything else (a sign,
// an exponent, garbage, an empty value) is ignored, and so is a remaining
// count other than zero.
//
// A Transport pauses the request's key for that long (scheduler's PauseKey)
// whatever the status; code that calls a server by hand can do the same. It
// is a pure function, safe for concurrent use.
func RateLimitPause(h http.Header, now time.Time) (time.Duration, bool) {
	d1, ok1 := pausePair(h, "Ratelimit-Remaining", "Ratelimit-Reset", now)
	d2, ok2 := pausePair(h, "X-Ratelimit-Remaining", "X-Ratelimit-Reset", now)
	switch {
	case ok1 && ok2:
		return max(d1, d2), true
	case ok1:
		return d1, true
	default:
		return d2, ok2
	}
}

// pausePair reads one remaining/reset pair.
func pausePair(h http.Header, remaining, reset string, now time.Time) (time.Duration, bool) {
	if n, frac, ok := parseSeconds(trimBlank(h.Get(remaining))); !ok || n != 0 || frac != 0 {
		return 0, false
	}
	return parseReset(h.Get(reset), now)
}

// epochAbove is the value of a reset above which it is a Unix time: 10^9
// seconds is almost 32 years, 10^9 as a time is 2001.
const epochAbove = 1_000_000_000

// parseReset parses a reset value relative to now.
func parseReset(v string, now time.Time) (time.Duration, bool) {
	secs, nanos, ok := parseSeconds(trimBlank(v))
	if !ok {
		return 0, false
	}
	if secs >= maxSeconds {
		return math.MaxInt64, true // saturated
	}
	if secs > epochAbove {
		// Time.Sub saturates.
		return max(time.Unix(secs, nanos).Sub(now), 0), true
	}
	return time.Duration(secs)*time.Second + time.Duration(nanos), true
}

// maxSeconds is the largest number of whole seconds a Duration holds;
// parseSeconds saturates there.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// parseSeconds parses digits with an optional fraction ("12", "12.5"),
// returning whole seconds and nanoseconds (the fraction cut after nine
// digits). It reports false for anything else, the empty string included.
// Whole seconds saturate at maxSeconds.
func parseSeconds(v string) (secs int64, nanos int64, ok bool) {
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if secs <= maxSeconds {
			secs = secs*10 + int64(v[i]-'0')
		}
	}
	if i == 0 {
		return 0, 0, false
	}
	if secs > maxSeconds {
		secs = maxSeconds
	}
	if i == len(v) {
		return secs, 0, true
	}
	if v[i] != '.' || i+1 == len(v) {
		return 0, 0, false
	}
	scale := int64(100_000_000)
	for i++; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		nanos += int64(c-'0') * scale
		scale /= 10
	}
	return secs, nanos, true
}

// trimBlank returns s without leading and trailing spaces and tabs.
func trimBlank(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hint returns the wait a failed response asks for: its Retry-After, else
// the rate-limit reset when none remains; -1 when it says nothing.
func hint(h http.Header, now time.Time) time.Duration {
	if d, ok := job.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return d
	}
	if d, ok := RateLimitPause(h, now); ok {
		return d
	}
	return -1
}
