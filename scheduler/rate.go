package scheduler

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/rebound-go/rebound/job"
)

// Key rates pace the attempts of each key before the server throttles: a
// token bucket per key (golang.org/x/time/rate, driven with explicit times
// from the scheduler's clock). Every attempt of a keyed job, first or
// retry, takes a token; a job whose token is not due yet waits (state
// sPaced: no worker, no goroutine) in its key's line, whose head is on the
// timer heap with its token reserved (see pace).

// WithKeyRate paces every key: at most perSecond attempts per second per
// key, with bursts of up to burst. Un-keyed jobs are not paced. s.SetKeyRate
// overrides it for one key. It panics if perSecond is not a positive finite
// number or burst < 1.
func WithKeyRate(perSecond float64, burst int) Option {
	checkRate("WithKeyRate", perSecond, burst)
	return optionFunc(func(c *config) { c.keyRate = &rateSpec{rate.Limit(perSecond), burst} })
}

// SetKeyRate sets key k's rate (attempts per second) and burst from now on,
// overriding WithKeyRate and WithAdaptiveKeyRate for k until the scheduler
// ends (the setting outlives k's idle periods). It panics if perSecond is
// not a positive finite number, burst < 1, or k is empty. It is safe for
// concurrent use.
func (s *Scheduler) SetKeyRate(k string, perSecond float64, burst int) {
	checkRate("SetKeyRate", perSecond, burst)
	if k == "" {
		panic("scheduler: SetKeyRate of the empty key (un-keyed jobs are not paced)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	spec := &rateSpec{rate.Limit(perSecond), burst}
	if s.rates == nil {
		s.rates = make(map[string]*rateSpec)
	}
	s.rates[k] = spec
	if ks := s.keys[k]; ks != nil {
		ks.adaptive = nil
		if ks.lim == nil {
			ks.lim = rate.NewLimiter(spec.limit, spec.burst)
		} else {
			at := s.timeAt(s.now())
			ks.lim.SetLimitAt(at, spec.limit)
			ks.lim.SetBurstAt(at, spec.burst)
		}
	}
}

func checkRate(name string, perSecond float64, burst int) {
	if !(perSecond > 0) || math.IsInf(perSecond, 0) || math.IsNaN(perSecond) {
		panic(fmt.Sprintf("scheduler: %s: rate must be a positive finite number of attempts per second, got %v", name, perSecond))
	}
	if burst < 1 {
		panic(fmt.Sprintf("scheduler: %s: burst must be >= 1, got %d", name, burst))
	}
}

// rateSpec is a fixed rate.
type rateSpec struct {
	limit rate.Limit
	burst int
}

// timeAt converts a scheduler time to the clock's.
func (s *Scheduler) timeAt(now int64) time.Time { return s.epoch.Add(time.Duration(now)) }

// initRate gives a new key state its limiter. Called with mu.
func (s *Scheduler) initRate(k string, ks *keyState) {
	spec := s.rates[k]
	if spec == nil && s.cfg.adaptive != nil {
		ks.adaptive = newAdaptive(s.cfg.adaptive, s.now())
		return
	}
	if spec == nil {
		spec = s.cfg.keyRate
	}
	if spec != nil {
		ks.lim = rate.NewLimiter(spec.limit, spec.burst)
	}
}

// pace takes a token of t's key for its next attempt. It reports false
// when the token is not due yet: then t waits, in its key's line of paced
// jobs, or gives up with job.ErrDeadline when the wait outlasts its limits.
// Called with mu, for a keyed task that holds no token.
//
// The jobs of a key waiting for tokens form a line (FIFO): only its head is
// on the timer heap, its token reserved for when it is due; as it leaves,
// the next one reserves its token. A token is thus reserved one at a time,
// at the key's rate of that moment: a rate that drops (an adaptive key
// throttled) applies at once, not after a backlog of reservations made at
// the old rate.
func (s *Scheduler) pace(t *task, ks *keyState, now int64) bool {
	if ks.limiter() == nil {
		return true
	}
	if ks.head != nil || ks.line.len() > 0 {
		// Others wait for tokens already: behind them, no heap entry yet.
		if s.outlasts(t, now, satAdd(now, int64(float64(ks.paced+1)/ks.rateNow()*float64(time.Second)))) {
			s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp)
			return false
		}
		s.nPaced++
		ks.paced++
		t.state = sPaced
		ks.line.push(t)
		s.changed()
		return false
	}
	return s.reserve(t, ks, now)
}

// reserve reserves a token of ks for t, the head of its key's line: true
// when it is due now (t may run), false when t waits on the heap for it
// (or gave up). Called with mu.
func (s *Scheduler) reserve(t *task, ks *keyState, now int64) bool {
	lim := ks.limiter()
	at := s.timeAt(now)
	r := lim.ReserveN(at, 1)
	d := r.DelayFrom(at)
	if !r.OK() || d <= 0 {
		return true
	}
	due := satAdd(now, int64(d))
	if s.outlasts(t, now, due) {
		r.CancelAt(at)
		s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp)
		return false
	}
	s.nPaced++
	ks.paced++
	ks.head, ks.res = t, r
	s.parkAt(t, due, sPaced)
	s.changed()
	return false
}

// unpace records that paced t stopped waiting for its token (its token is
// due, or it ended); when t was its key's head, the next in line reserves
// its token. Called with mu.
func (s *Scheduler) unpace(t *task) {
	s.nPaced--
	ks := s.keyOf(t)
	if ks == nil {
		return
	}
	ks.paced--
	if ks.head == t {
		if t.state == sDone {
			// It ended before its token was due: the token is the
			// next job's.
			ks.res.CancelAt(s.timeAt(s.now()))
		}
		ks.head, ks.res = nil, nil
		s.nextPaced(ks)
	}
}

// nextPaced moves the line of ks along: each next job reserves its token;
// one whose token is due at once goes to the ready queue, holding it; the
// first that must wait goes on the heap. Called with mu.
func (s *Scheduler) nextPaced(ks *keyState) {
	for ks.head == nil {
		t := ks.line.pop()
		if t == nil {
			return
		}
		if t.state != sPaced {
			continue // ended while in line
		}
		s.nPaced--
		ks.paced--
		if ks.limiter() == nil || s.reserve(t, ks, s.now()) {
			t.state = sTokened
			s.ready.push(t)
			s.signal()
		}
	}
}

// limiter returns the key's token bucket, or nil when the key is not paced
// (no rate, or an adaptive key not throttled yet).
func (ks *keyState) limiter() *rate.Limiter {
	if ks.adaptive != nil {
		return ks.adaptive.lim
	}
	return ks.lim
}

// rateNow returns the key's rate, or 0 when it is not paced.
func (ks *keyState) rateNow() float64 {
	if lim := ks.limiter(); lim != nil {
		return float64(lim.Limit())
	}
	return 0
}

// full reports whether the key's pacing may be forgotten by now (its bucket
// has refilled, and an adaptive key has grown back to its last maximum), and
// when that will be otherwise: an idle moment does not reset a key's pacing.
func (s *Scheduler) full(ks *keyState, now int64) (bool, int64) {
	if a := ks.adaptive; a != nil && a.lim != nil {
		// Kept until its rate has grown back to the rate at its last
		// throttle (CUBIC's window), so that a short idle moment does not
		// forget what the server takes.
		if until := a.lastDrop + int64(a.window()*float64(time.Second)); now < until {
			return false, until
		}
	}
	lim := ks.limiter()
	if lim == nil {
		return true, never
	}
	at := s.timeAt(now)
	missing := float64(lim.Burst()) - lim.TokensAt(at)
	if missing <= 0 {
		return true, never
	}
	return false, satAdd(now, int64(missing/float64(lim.Limit())*float64(time.Second))+1)
}
