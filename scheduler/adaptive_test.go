package scheduler

import (
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// After a throttle that paused its key (a Retry-After), a key's rate grows
// back to 0.85 of the rate that drew it and holds there for 20 pauses
// before probing past it; after a plain throttle it probes past the rate
// at once, along CUBIC's curve. A saturated key (jobs waiting for its
// tokens) counts its rate, not its measured rate, on a hinted throttle.
func TestAdaptiveHintedThrottle(t *testing.T) {
	cfg := adaptiveCfg{beta: 0.7, scale: 0.4, floor: 0.5, smooth: 0.8}
	const sec = int64(time.Second)
	drop := 10 * sec
	limited := func(measured float64) *adaptive {
		a := newAdaptive(&cfg, 0)
		a.lim = rate.NewLimiter(100, 1)
		a.measured = measured
		return a
	}
	rateAt := func(a *adaptive, now int64) float64 {
		a.observe(now, false, 0, false, time.Unix(0, now), now)
		return float64(a.lim.Limit())
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-6 }

	plain := limited(100)
	plain.observe(drop, true, 0, true, time.Unix(0, drop), drop)
	if got := float64(plain.lim.Limit()); !near(got, 70) {
		t.Fatalf("plain throttle at 100/s: rate %v, want 70", got)
	}
	k := plain.window()
	if got, want := rateAt(plain, drop+int64((k+2)*float64(sec))), 100+0.4*8; !near(got, want) {
		t.Errorf("plain: rate 2s past the window = %v, want %v (probing past the last rate)", got, want)
	}

	hinted := limited(100)
	hinted.observe(drop, true, time.Second, true, time.Unix(0, drop), drop)
	if got := float64(hinted.lim.Limit()); !near(got, 70) {
		t.Fatalf("hinted throttle at 100/s: rate %v, want 70", got)
	}
	k = hinted.window()
	if got := rateAt(hinted, drop+int64((k+19)*float64(sec))); !near(got, 85) {
		t.Errorf("hinted: rate 19s past the window = %v, want 85 (held below the rate that drew the pause)", got)
	}
	if got, want := rateAt(hinted, drop+int64((k+22)*float64(sec))), 85+0.4*8; !near(got, want) {
		t.Errorf("hinted: rate 22s past the window = %v, want %v (probing after 20 pauses' time)", got, want)
	}

	// A pause left the measured rate at half the key's rate: a saturated
	// key drops from its rate, an idle one from what it sent.
	for _, tc := range []struct {
		saturated bool
		want      float64
	}{{true, 70}, {false, 35}} {
		a := limited(50)
		a.observe(drop, true, time.Second, tc.saturated, time.Unix(0, drop), drop)
		if got := float64(a.lim.Limit()); !near(got, tc.want) {
			t.Errorf("hinted throttle, measured 50/s, limit 100/s, saturated %v: rate %v, want %v", tc.saturated, got, tc.want)
		}
	}
}
