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
// A throttle with a Retry-After pauses the key as well, so that probing
// past what the server takes costs a whole pause, not one wasted attempt,
// and the server's answers say more than how often it throttles. Such a
// key is paced at a level instead of along the curve: after its first
// throttle, beta² of what it sent (a guess: a first burst overruns a server
// by more than its rate says, and a guess too high costs a pause),
// stepping up by 1/0.95 after every pause's length without a throttle;
// after each throttle since, 0.95 of what the
// server took, read as a token bucket (the key's first burst is the
// bucket; how long the bucket lasted after the key resumed or stepped up,
// at the rate it sent at, gives the rate it refills at), held for 20
// pauses (20s after a Retry-After of 1s) before stepping up. Probing then
// costs the key about one pause in 20. So that a server that is no token
// bucket cannot mislead it, a throttle lowers the level by at most beta²,
// as two plain throttles would. The time a key spends paused is not idle
// time: its measured rate (which caps its rate at twice itself) leaves it
// out.
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
// throttle (default 0.7; after a throttle with a Retry-After, the first
// level is beta² of it, and a throttle lowers a level by at most beta²).
// It panics unless 0 < beta < 1.
func AdaptiveBeta(beta float64) AdaptiveOption {
	if !(beta > 0 && beta < 1) {
		panic(fmt.Sprintf("scheduler: AdaptiveBeta must be in (0, 1), got %v", beta))
	}
	return AdaptiveOption{func(c *adaptiveCfg) { c.beta = beta }}
}

// AdaptiveScale sets the cubic growth's scale (default 0.4): how fast a
// key's rate grows back after a plain throttle (after one with a
// Retry-After the key is paced at a level instead). It panics unless
// scale > 0 and finite.
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

// A key throttled with a Retry-After is paced at a level (see
// WithAdaptiveKeyRate): hintedMax of what the server took, stepping up by
// hintedStep after holding it for hintedHold pauses (after its first
// throttle, when its level is a guess, after one).
const hintedMax, hintedStep, hintedHold = 0.95, 1 / 0.95, 20.0

// maxHold bounds how long a level is held, whatever the hint.
const maxHold = int64(24 * time.Hour)

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

	// Time the key spent paused (a Retry-After, PauseKey) is not idle time:
	// the measured rate leaves it out. Counted as idle, a pause dragged
	// down the cap of twice the measured rate, and the key resumed at a
	// fraction of the rate its throttle had set.
	pausedAcc   int64 // paused time before pauseStart
	pauseStart  int64 // the latest pause (pauseEnd == pauseStart: none yet)
	pauseEnd    int64
	bucketPause int64 // pausedBefore(lastBucket)
	span        int64 // unpaused time of closed buckets not measured yet

	// Paced at a level, after a throttle with a Retry-After: level from
	// set (when the key resumed), times hintedStep for every holdFor held.
	leveled bool
	level   float64
	set     int64
	holdFor int64

	// What the server took: the first burst (answers not throttled to
	// attempts sent before the key was first paused; the first throttled
	// one left at coldSent), and the answers not throttled to attempts
	// sent since the level was set and since the current step started.
	firstPause int64 // math.MaxInt64: not paused yet
	coldSent   int64 // never: not throttled with a hint yet
	burst      int
	takenSet   int
	stepFrom   int64
	taken      int
}

func newAdaptive(cfg *adaptiveCfg, now int64) *adaptive {
	return &adaptive{cfg: cfg, start: now, lastBucket: floorTo(now, rateBucket), lastDrop: never,
		pauseStart: now, pauseEnd: now, firstPause: math.MaxInt64, coldSent: never}
}

// paused records that the key is paused from now until end. Pauses start
// at now, which never goes back, so they can only overlap the latest one,
// which then lasts to the later end. Called with mu.
func (a *adaptive) paused(now, end int64) {
	a.firstPause = min(a.firstPause, now)
	if now < a.pauseEnd {
		a.pauseEnd = max(a.pauseEnd, end)
		return
	}
	a.pausedAcc = satAdd(a.pausedAcc, a.pauseEnd-a.pauseStart)
	a.pauseStart, a.pauseEnd = now, end
}

// pausedBefore returns how long the key has been paused before t, for t
// not before the latest pause started.
func (a *adaptive) pausedBefore(t int64) int64 {
	return satAdd(a.pausedAcc, min(max(t-a.pauseStart, 0), a.pauseEnd-a.pauseStart))
}

func floorTo(t, d int64) int64 {
	q := t / d
	if t < 0 && q*d != t {
		q--
	}
	return q * d
}

// rateMeasured returns the key's measured send rate; before a bucket has
// been measured, the rate it has sent at since it started, over the time
// it was not paused (at least coldMin).
func (a *adaptive) rateMeasured(now int64) float64 {
	if a.measured > 0 {
		return a.measured
	}
	elapsed := max(now-a.start-a.pausedBefore(now), coldMin)
	return float64(a.total) / (float64(elapsed) / float64(time.Second))
}

// window is CUBIC's K: the seconds after a drop at which the rate is back
// at its last maximum.
func (a *adaptive) window() float64 {
	return math.Cbrt(a.lastMax * (1 - a.cfg.beta) / a.cfg.scale)
}

// sent records an attempt of the key starting now: the measured send rate,
// over half-second buckets of the time the key was not paused (a bucket
// paused for all but coldMin carries its attempts into the next). Called
// with mu.
func (a *adaptive) sent(now int64) {
	a.total++
	if b := floorTo(now, rateBucket); b > a.lastBucket {
		p := a.pausedBefore(b)
		a.span += b - a.lastBucket - (p - a.bucketPause)
		if a.span >= coldMin {
			cur := float64(a.count) / (float64(a.span) / float64(time.Second))
			a.measured = cur*a.cfg.smooth + a.measured*(1-a.cfg.smooth)
			a.count, a.span = 0, 0
		}
		a.lastBucket, a.bucketPause = b, p
	}
	a.count++
}

// stepOf returns the step of a leveled key at t: how many it has taken,
// and when the last one started.
func (a *adaptive) stepOf(t int64) (k, from int64) {
	if t <= a.set {
		return 0, a.set
	}
	k = (t - a.set) / a.holdFor
	return k, a.set + k*a.holdFor
}

// step returns the step of a leveled key at t: when it started, and its
// rate.
func (a *adaptive) step(t int64) (from int64, r float64) {
	k, from := a.stepOf(t)
	return from, a.level * math.Pow(hintedStep, float64(min(k, 1000)))
}

// bucketRate estimates what a server that is a token bucket takes, from
// a throttle to an attempt of a leveled key that left at sent, as the
// most of two estimates, each of which can only fall short: the server
// took n of the key's attempts before its bucket ran out, d after a start
// when the bucket held b, so it takes less than (n+1-b)/d. From the step's
// start, the bucket full (unless the step before drained it: then the
// estimate falls short); or from when the key resumed, the bucket refilled
// by the pause (unless the key sent below what the server takes for a
// while, its bucket full, wasting what it refilled: then the estimate
// falls short). The key's first burst measures the bucket (the burst over
// d0, the time its first throttled attempt left, is b + c*d0); what a pause
// refills is at most c times the pause. The estimate stays within [beta²,
// 1] of r, so that a server that is no token bucket drops the key no
// further than two plain throttles would.
func (a *adaptive) bucketRate(sent int64, hint time.Duration) float64 {
	from, r := a.step(sent)
	burst := float64(a.burst)
	d0 := 0.0
	if a.coldSent != never {
		d0 = float64(a.coldSent-a.start) / float64(time.Second)
	}
	h := hint.Seconds()
	est := func(n float64, since int64, refilled bool) float64 {
		d := float64(sent-since) / float64(time.Second)
		if d <= d0 {
			return 0
		}
		c := (n + 1 - burst) / (d - d0) // b = burst - c*d0
		if refilled && burst-c*d0 > c*h {
			c = (n + 1) / (d + h) // b = c*h
		}
		return c
	}
	c := est(float64(a.takenSet), a.set, true)
	if a.stepFrom == from && from > a.set {
		c = max(c, est(float64(a.taken), from, false))
	}
	return min(max(c, r*a.cfg.beta*a.cfg.beta), r)
}

// used returns the rate the key sent at: its measured rate, at most its
// rate; its rate if jobs are waiting for its tokens (saturated), since the
// measured rate lags behind a rate that has just grown.
func (a *adaptive) used(now int64, saturated bool) float64 {
	use := a.rateMeasured(now)
	if a.lim != nil {
		use = min(use, float64(a.lim.Limit()))
		if saturated {
			use = float64(a.lim.Limit())
		}
	}
	return use
}

// keepUntil returns until when the key's state is kept while it is idle:
// until its rate has grown back to its last maximum (CUBIC's window), or a
// leveled key has held its level, so that a short idle moment does not
// forget what the server takes.
func (a *adaptive) keepUntil() int64 {
	if a.leveled {
		return satAdd(a.set, a.holdFor)
	}
	return a.lastDrop + int64(a.window()*float64(time.Second))
}

// observe updates the key's rate after the answer to an attempt that
// started at sent: throttled or not. Called with mu.
func (a *adaptive) observe(now int64, throttled bool, hint time.Duration, saturated bool, at time.Time, sent int64) {
	if !throttled {
		if sent < a.firstPause {
			a.burst++
		}
		if a.leveled && sent >= a.set {
			a.takenSet++
			if _, from := a.stepOf(sent); from >= a.stepFrom {
				if from > a.stepFrom {
					a.stepFrom, a.taken = from, 0
				}
				a.taken++
			}
		}
	}
	var calculated float64
	switch {
	case throttled && a.lastDrop != never && sent <= a.lastDrop:
		return // one drop per round: this answers a request sent before the last drop
	case throttled && hint > 0:
		// The first level is a guess: a first burst overruns a server
		// by more than its rate says, and a guess too high costs a pause.
		level := a.used(now, saturated) * a.cfg.beta * a.cfg.beta
		hold := hint.Seconds()
		if a.leveled {
			level = hintedMax * a.bucketRate(sent, hint)
			hold *= hintedHold
		} else if a.coldSent == never {
			a.coldSent = sent
		}
		a.leveled, a.level = true, max(level, a.cfg.floor)
		a.holdFor = max(int64(min(hold*float64(time.Second), float64(maxHold))), 1)
		a.set = max(a.pauseEnd, now)
		a.stepFrom, a.taken, a.takenSet = a.set, 0, 0
		a.lastMax, a.lastDrop = a.level, now
		calculated = a.level
	case throttled:
		use := a.used(now, false)
		a.leveled = false
		a.lastMax, a.lastDrop = use, now
		calculated = use * a.cfg.beta
	case a.lim == nil:
		return // unrestricted until throttled
	case a.leveled:
		_, calculated = a.step(now)
	default:
		t := float64(now-a.lastDrop)/float64(time.Second) - a.window()
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
