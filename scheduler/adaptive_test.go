package scheduler

import (
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const sec = int64(time.Second)

func testAdaptiveCfg() adaptiveCfg {
	return adaptiveCfg{beta: 0.7, scale: 0.4, floor: 0.5, smooth: 0.8}
}

// limitOf returns the key's rate after an answer at now to an attempt
// that left at now (a success), which recomputes it.
func limitOf(a *adaptive, now int64) float64 {
	a.observe(now, false, 0, false, time.Unix(0, now), now)
	return float64(a.lim.Limit())
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-6 }

// After a plain throttle a key's rate drops to beta of its rate and grows
// back along CUBIC's curve past it. After a first throttle with a
// Retry-After it drops to beta² of its rate, held through the pause, and
// steps up by 1/0.95 after every pause's length without a throttle. A
// saturated key (jobs waiting for its tokens) counts its rate, not its
// measured rate.
func TestAdaptiveHintedThrottle(t *testing.T) {
	cfg := testAdaptiveCfg()
	drop := 10 * sec
	limited := func(measured float64) *adaptive {
		a := newAdaptive(&cfg, 0)
		a.lim = rate.NewLimiter(100, 1)
		a.measured = measured
		return a
	}

	plain := limited(100)
	plain.observe(drop, true, 0, true, time.Unix(0, drop), drop)
	if got := float64(plain.lim.Limit()); !near(got, 70) {
		t.Fatalf("plain throttle at 100/s: rate %v, want 70", got)
	}
	k := plain.window()
	if got, want := limitOf(plain, drop+int64((k+2)*float64(sec))), 100+0.4*8; !near(got, want) {
		t.Errorf("plain: rate 2s past the window = %v, want %v (probing past the last rate)", got, want)
	}

	hinted := limited(100)
	hinted.paused(drop, drop+sec) // as the scheduler does, before observing
	hinted.observe(drop, true, time.Second, true, time.Unix(0, drop), drop)
	for _, c := range []struct {
		after int64 // since the pause ended
		want  float64
	}{{-sec / 2, 49}, {0, 49}, {sec - 1, 49}, {sec, 49 / 0.95}, {3*sec + sec/2, 49 / (0.95 * 0.95 * 0.95)}} {
		if got := limitOf(hinted, drop+sec+c.after); !near(got, c.want) {
			t.Errorf("hinted: rate %v after the pause = %v, want %v", time.Duration(c.after), got, c.want)
		}
	}

	// A pause left the measured rate at half the key's rate: a saturated
	// key drops from its rate, an idle one from what it sent.
	for _, tc := range []struct {
		saturated bool
		want      float64
	}{{true, 49}, {false, 24.5}} {
		a := limited(50)
		a.paused(drop, drop+sec)
		a.observe(drop, true, time.Second, tc.saturated, time.Unix(0, drop), drop)
		if got := float64(a.lim.Limit()); !near(got, tc.want) {
			t.Errorf("hinted throttle, measured 50/s, limit 100/s, saturated %v: rate %v, want %v", tc.saturated, got, tc.want)
		}
	}
}

// The time a key spends paused is not idle time: after a pause its
// measured rate is what it sent at while it could send.
func TestAdaptivePauseIsNotIdle(t *testing.T) {
	cfg := testAdaptiveCfg()
	a := newAdaptive(&cfg, 0)
	every := sec / 100
	now := int64(0)
	for ; now < 2*sec; now += every {
		a.sent(now)
	}
	a.paused(now, now+3*sec)
	for now += 3 * sec; now <= 5*sec+sec/2; now += every {
		a.sent(now) // the first bucket after the pause is measured at 5.5s
	}
	if got := a.rateMeasured(now); math.Abs(got-100) > 5 {
		t.Errorf("measured rate after 2s at 100/s, a 3s pause and 0.5s at 100/s = %v, want about 100", got)
	}
}

// bucketServer is a token bucket: capacity per second, holding bucket.
type bucketServer struct {
	capacity, bucket, tokens float64
	last                     int64
}

func (b *bucketServer) take(now int64) bool {
	b.tokens = min(b.bucket, b.tokens+b.capacity*float64(now-b.last)/float64(sec))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// drive plays a key against a server answering after rtt, the way the
// scheduler does: a first burst of n attempts at 0 while the key is
// unrestricted, then one attempt whenever its limiter has a token and it is
// not paused; a throttle pauses the key for hint. It stops at until and
// returns the key and how many times its rate dropped.
func drive(t *testing.T, take func(int64) bool, n int, rtt, hint time.Duration, until int64) (*adaptive, int) {
	t.Helper()
	cfg := testAdaptiveCfg()
	a := newAdaptive(&cfg, 0)
	type answer struct {
		at, sent int64
		ok       bool
	}
	var inFlight []answer
	for range n {
		a.sent(0)
		inFlight = append(inFlight, answer{int64(rtt), 0, take(0)})
	}
	pausedTo, drops, next := int64(0), 0, int64(0)
	for now := int64(0); now < until; {
		if len(inFlight) > 0 && (a.lim == nil || inFlight[0].at <= max(next, pausedTo)) {
			ans := inFlight[0]
			inFlight = inFlight[1:]
			now = ans.at
			var h time.Duration
			if !ans.ok {
				h = hint
				if end := now + int64(hint); end > pausedTo {
					pausedTo = end
					a.paused(now, end)
				}
			}
			before := a.lastDrop
			a.observe(now, !ans.ok, h, true, time.Unix(0, now), ans.sent)
			if a.lastDrop != before {
				drops++
			}
			continue
		}
		if a.lim == nil {
			t.Fatal("the first burst drew no throttle")
		}
		now = max(next, pausedTo)
		r := a.lim.ReserveN(time.Unix(0, now), 1)
		if d := r.DelayFrom(time.Unix(0, now)); d > 0 {
			r.CancelAt(time.Unix(0, now))
			next = now + int64(d)
			continue
		}
		a.sent(now)
		inFlight = append(inFlight, answer{now + int64(rtt), now, take(now)})
		next = now
	}
	return a, drops
}

// A key throttled with a Retry-After by a token-bucket server settles just
// below what the server takes within a few pauses: its first burst
// measured the bucket, and how long the bucket lasted after each pause
// measures the rate it refills at. A server that is no token bucket (it
// takes 3 attempts after each pause, whatever the time) lowers the level
// by at most beta² per throttle.
func TestAdaptiveBucketEstimate(t *testing.T) {
	const rtt, hint = 20 * time.Millisecond, time.Second
	for _, tc := range []struct {
		capacity, bucket float64
		burst            int // the first burst, all at once
	}{
		{100, 3, 21}, {100, 10, 21}, {100, 30, 64}, {20, 2, 21}, {20, 2, 64},
		{500, 50, 128}, {500, 150, 256}, {100, 100, 128}, {100, 100, 1000},
	} {
		srv := &bucketServer{capacity: tc.capacity, bucket: tc.bucket, tokens: tc.bucket}
		a, drops := drive(t, srv.take, tc.burst, rtt, hint, 24*sec) // before a level held for 20 pauses steps up
		// The first level: beta² of the burst over 100ms; each drop after
		// it by at most beta², the last one to the estimate.
		first := 0.49 * float64(tc.burst) / 0.1
		maxDrops := 2
		if first > tc.capacity {
			maxDrops = 1 + int(math.Ceil(math.Log(first/tc.capacity)/math.Log(1/0.49)))
		}
		if lo, hi := 0.95*0.9*tc.capacity, tc.capacity; a.level < lo || a.level > hi || drops > maxDrops {
			t.Errorf("capacity %g/s, bucket %g, first burst %d: level %.1f after %d drops, want in [%.1f, %.1f] after at most %d",
				tc.capacity, tc.bucket, tc.burst, a.level, drops, lo, hi, maxDrops)
		}
	}

	// After each pause it takes 3 attempts, then throttles.
	var taken int
	var last int64
	odd := func(now int64) bool {
		if now-last > int64(hint)/2 {
			taken = 0
		}
		last = now
		taken++
		return taken <= 3
	}
	a, drops := drive(t, odd, 21, rtt, hint, 3*sec/2)
	first := 0.49 * 210 // beta² of the first burst's 21 attempts over 100ms
	if want := 0.95 * 0.49 * first; drops != 2 || !near(a.level, want) {
		t.Errorf("a server that is no token bucket: level %v after %d drops, want %v after 2 (beta² of the first)", a.level, drops, want)
	}
}

// A huge Retry-After (or a pause that saturates the clock) neither
// overflows the time a level is held nor makes the rate step up at once.
func TestAdaptiveHugeHint(t *testing.T) {
	cfg := testAdaptiveCfg()
	for _, hint := range []time.Duration{time.Duration(math.MaxInt64), 100 * 365 * 24 * time.Hour} {
		a := newAdaptive(&cfg, 0)
		a.lim = rate.NewLimiter(100, 1)
		a.measured = 100
		a.paused(sec, satAdd(sec, int64(hint)))
		a.observe(sec, true, hint, true, time.Unix(0, sec), sec)
		a.paused(2*sec, satAdd(2*sec, int64(hint))) // overlaps: no new stretch
		if a.holdFor != maxHold {
			t.Errorf("hint %v: level held for %v, want %v", hint, time.Duration(a.holdFor), time.Duration(maxHold))
		}
		if got := limitOf(a, 10*sec); !near(got, 49) {
			t.Errorf("hint %v: rate %v, want 49", hint, got)
		}
	}
}
