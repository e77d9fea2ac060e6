package httpretry_test

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/httpretry"
	"github.com/rebound-go/rebound/job"
)

// FuzzHeaders checks the header parsing a Transport relies on: Retry-After
// (through job.ParseRetryAfter), RateLimit-Reset and X-RateLimit-Reset.
// Whatever the values: no panic, never a negative wait, Retry-After first,
// and a reset in plain seconds (up to 10^9) or a Unix time above it is
// exactly that long.
func FuzzHeaders(f *testing.F) {
	f.Add("120", "0", "30", "0", "1700000000", int64(1_699_999_000))
	f.Add("Fri, 31 Dec 1999 23:59:59 GMT", "0", "1.5", "1", "12", int64(946_684_000))
	f.Add("", " 0 ", "\t7", "0", "99999999999999999999", int64(0))
	f.Add("garbage", "00", "1000000000", "0", "1000000001", int64(1_000_000_000))
	f.Add("-5", "0", "-5", "0", ".5", int64(-1))
	f.Fuzz(func(t *testing.T, retryAfter, remaining, reset, xRemaining, xReset string, nowUnix int64) {
		now := time.Unix(nowUnix%(1<<40), 0)
		h := http.Header{
			"Retry-After":           {retryAfter},
			"Ratelimit-Remaining":   {remaining},
			"Ratelimit-Reset":       {reset},
			"X-Ratelimit-Remaining": {xRemaining},
			"X-Ratelimit-Reset":     {xReset},
		}

		// Each pair alone.
		one, ok1 := httpretry.RateLimitPause(http.Header{"Ratelimit-Remaining": {remaining}, "Ratelimit-Reset": {reset}}, now)
		two, ok2 := httpretry.RateLimitPause(http.Header{"X-Ratelimit-Remaining": {xRemaining}, "X-Ratelimit-Reset": {xReset}}, now)
		for _, c := range []struct {
			remaining, reset string
			d                time.Duration
			ok               bool
		}{{remaining, reset, one, ok1}, {xRemaining, xReset, two, ok2}} {
			if c.d < 0 {
				t.Fatalf("RateLimitPause(%q, %q) = %v < 0", c.remaining, c.reset, c.d)
			}
			if !c.ok {
				if c.d != 0 {
					t.Fatalf("RateLimitPause(%q, %q) = %v, false; want 0 when not ok", c.remaining, c.reset, c.d)
				}
				continue
			}
			if n, err := strconv.ParseUint(strings.Trim(c.remaining, " \t"), 10, 64); err != nil && !strings.Contains(c.remaining, ".") || err == nil && n != 0 {
				t.Fatalf("RateLimitPause(%q, %q) paused (%v) though the remaining count is not 0", c.remaining, c.reset, c.d)
			}
			v := strings.Trim(c.reset, " \t")
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && v[0] != '+' && v[0] != '-' {
				var want time.Duration
				switch {
				case n <= 1e9:
					want = time.Duration(n) * time.Second
				case n >= math.MaxInt64/int64(time.Second):
					want = math.MaxInt64
				default:
					want = max(time.Unix(n, 0).Sub(now), 0)
				}
				if c.d != want {
					t.Fatalf("RateLimitPause(%q, %q) at %v = %v, want %v", c.remaining, c.reset, now.Unix(), c.d, want)
				}
			}
		}

		// Both pairs: the later pause.
		both, okBoth := httpretry.RateLimitPause(h, now)
		if okBoth != (ok1 || ok2) || both != max(one, two) {
			t.Fatalf("RateLimitPause(both) = %v, %v; the pairs alone give %v, %v and %v, %v", both, okBoth, one, ok1, two, ok2)
		}

		// A failed response's hint: Retry-After first, then the reset.
		hint := httpretry.Hint(h, now)
		if d, ok := job.ParseRetryAfter(retryAfter, now); ok {
			if hint != d {
				t.Fatalf("Hint = %v, want Retry-After's %v", hint, d)
			}
		} else if want := map[bool]time.Duration{true: both, false: -1}[okBoth]; hint != want {
			t.Fatalf("Hint = %v without a valid Retry-After, want %v", hint, want)
		}
	})
}
