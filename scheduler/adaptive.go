package scheduler

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// WithAdaptiveKeyRate paces each key adaptively: a key is unrestricted
// until one of its attempts is throttled (an error with a Retry-After hint,
// or marked with job.Throttled); from then on its rate follows CUBIC, as in
// the AWS SDKs' adaptive retry mode: on a throttle the rate drops to beta
// (0.7) times the key's measured rate; between throttles it grows back
// along a cubic curve (scale 0.4) towards and past the rate at the last
// throttle; the measured rate is smoothed over half-second buckets; the rate
// never drops below the floor (0.5 per second). AWS applies this per client,
// so that one throttled resource slows every unrelated call; here each key
// has its own, so a throttled host slows only itself.
//
// Cold start: a key throttled before any of its half-second buckets has
// completed uses the rate it has actually sent at since it started (its
// attempts over at least 100ms), not zero; and a key's rate drops at most
// once per round trip: a throttle that answers an attempt sent before the
// last drop is ignored, since that attempt left before the drop took
// effect. A burst of throttles at start therefore lowers a key's rate in
// steps from what it sent towards what the server takes, instead of to the
// floor. A paced key sends evenly (a burst of one token).
//
// A throttle with a Retry-After pauses the key as well, so probing past
// what the server takes costs a whole pause, not one wasted attempt. After
// such a throttle the key's rate grows back only to 0.85 of the rate that
// drew it, and holds there for 20 times the pause (20s after a
// Retry-After of 1s) before probing past it: probing then costs the key
// about one pause in 20. When jobs were waiting for the key's tokens, the
// rate that drew the throttle is the key's rate, not its measured rate
// (which counts the pause as idle time).
//
// A key dropped while idle starts unrestricted again. s.SetKeyRate sets a
// fixed rate for one key instead. It panics on invalid tuning.
func WithAdaptiveKeyRate(opts ...AdaptiveOption) Option {
	cfg := adaptiveCfg{beta: 0.7, scale: 0.4, floor: 0.5, smooth: 0.8}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&cfg)
		}
	}
	return optionFunc(func(c *config) { c.adaptive = &cfg })
}

// AdaptiveOption tunes WithAdaptiveKeyRate. The zero value changes nothing.
type AdaptiveOption struct {
	apply func(*adaptiveCfg)
}

// AdaptiveBeta sets the factor applied to a key's measured rate on a
// throttle (default 0.7). It panics unless 0 < beta < 1.
func AdaptiveBeta(beta float64) AdaptiveOption {
	if !(beta > 0 && beta < 1) {
		panic(fmt.Sprintf("scheduler: AdaptiveBeta must be in (0, 1), got %v", beta))
	}
	return AdaptiveOption{func(c *adaptiveCfg) { c.beta = beta }}
}

// AdaptiveScale sets the cubic growth's scale (default 0.4): how fast a
// key's rate grows back after a throttle. It panics unless scale > 0 and
// finite.
func AdaptiveScale(scale float64) AdaptiveOption {
	if !(scale > 0) || math.IsInf(scale, 0) {
		panic(fmt.Sprintf("scheduler: AdaptiveScale must be a positive finite number, got %v", scale))
	}
	return AdaptiveOption{func(c *adaptiveCfg) { c.scale = scale }}
}

// AdaptiveFloor sets the lowest rate a key is paced at, in attempts per
// second (default 0.5). It panics unless perSecond > 0 and finite.
func AdaptiveFloor(perSecond float64) AdaptiveOption {
	if !(perSecond > 0) || math.IsInf(perSecond, 0) {
		panic(fmt.Sprintf("scheduler: AdaptiveFloor must be a positive finite number, got %v", perSecond))
	}
	return AdaptiveOption{func(c *adaptiveCfg) { c.floor = perSecond }}
}

type adaptiveCfg struct {
	beta, scale, floor, smooth float64
}

// rateBucket is the width of the measuring buckets.
const rateBucket = int64(500 * time.Millisecond)

// coldMin is the shortest time a key's cold-start rate is measured over.
const coldMin = int64(100 * time.Millisecond)

// After a throttle that paused the key (a Retry-After), probing past the
// rate that drew it costs a whole pause, not one wasted attempt: the rate
// then grows back to hintedMax of it, and holds there for hintedHold times
// the pause before probing past it, so that probing costs the key about
// one pause in every hintedHold.
var hintedMax, hintedHold = 0.85, 20.0

// adaptive is one key's CUBIC state. Times are the scheduler's.
type adaptive struct {
	cfg        *adaptiveCfg
	lim        *rate.Limiter // nil until the key is throttled
	start      int64         // when the key started
	count      int           // attempts sent in the current bucket
	total      int           // attempts sent since start (for the cold start)
	lastBucket int64         // start of the current bucket
	measured   float64       // smoothed attempts sent per second; 0: no bucket completed
	lastMax    float64       // the rate at the last throttle
	lastDrop   int64         // when the rate last dropped; never: not yet
	hold       float64       // seconds the rate stays at lastMax before probing past it
}

func newAdaptive(cfg *adaptiveCfg, now int64) *adaptive {
	return &adaptive{cfg: cfg, start: now, lastBucket: floorTo(now, rateBucket), lastDrop: never}
}

func floorTo(t, d int64) int64 {
	q := t / d
	if t < 0 && q*d != t {
		q--
	}
	return q * d
}

// rateMeasured returns the key's measured send rate; before a bucket has
// completed, the rate it has sent at since it started (over at least half
// a second).
func (a *adaptive) rateMeasured(now int64) float64 {
	if a.measured > 0 {
		return a.measured
	}
	elapsed := max(now-a.start, coldMin)
	return float64(a.total) / (float64(elapsed) / float64(time.Second))
}

// window is CUBIC's K: the seconds after a drop at which the rate is back
// at its last maximum.
func (a *adaptive) window() float64 {
	return math.Cbrt(a.lastMax * (1 - a.cfg.beta) / a.cfg.scale)
}

// sent records an attempt of the key starting now: the measured send rate,
// over half-second buckets. Called with mu.
func (a *adaptive) sent(now int64) {
	a.total++
	if b := floorTo(now, rateBucket); b > a.lastBucket {
		cur := float64(a.count) / (float64(b-a.lastBucket) / float64(time.Second))
		a.measured = cur*a.cfg.smooth + a.measured*(1-a.cfg.smooth)
		a.count, a.lastBucket = 0, b
	}
	a.count++
}

// observe updates the key's rate after the answer to an attempt that
// started at sent: throttled or not. Called with mu.
func (a *adaptive) observe(now int64, throttled bool, hint time.Duration, saturated bool, at time.Time, sent int64) {
	var calculated float64
	switch {
	case throttled && a.lastDrop != never && sent <= a.lastDrop:
		return // one drop per round: this answers a request sent before the last drop
	case throttled:
		use := a.rateMeasured(now)
		if a.lim != nil {
			use = min(use, float64(a.lim.Limit()))
			if saturated && hint > 0 {
				// Jobs wait for its tokens: the key sends at its rate,
				// which its measured rate understates after a pause
				// (it counts the pause as idle).
				use = float64(a.lim.Limit())
			}
		}
		a.lastMax, a.hold = use, 0
		if hint > 0 {
			a.lastMax = use * hintedMax
			a.hold = hint.Seconds() * hintedHold
		}
		a.lastDrop = now
		calculated = use * a.cfg.beta
	case a.lim == nil:
		return // unrestricted until throttled
	default:
		t := float64(now-a.lastDrop)/float64(time.Second) - a.window()
		if t > 0 {
			t = max(0, t-a.hold)
		}
		calculated = a.cfg.scale*t*t*t + a.lastMax
	}
	newRate := min(calculated, 2*a.rateMeasured(now))
	newRate = max(newRate, a.cfg.floor)
	// A burst of 1: a paced key sends evenly; a second's worth of tokens,
	// full when the limiter starts or after a pause, overruns a server
	// whose own bucket holds less.
	if a.lim == nil {
		a.lim = rate.NewLimiter(rate.Limit(newRate), 1)
		return
	}
	a.lim.SetLimitAt(at, rate.Limit(newRate))
}
