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
// retry, takes a token as it starts; a job whose token is not due yet
// waits (state sPaced: no worker, no goroutine) in its key's line, whose
// head is on the timer heap until the bucket holds a token (see pace).

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

// pace takes a token of t's key for the attempt t is about to start. It
// reports false when t must wait for one: in its key's line of paced jobs,
// or on the timer heap as the line's head until a token is due; or when t
// gave up (job.ErrDeadline: the wait outlasts its limits). Called with mu,
// from gate, for a keyed task of a paced key as a worker takes it.
//
// The jobs of a key waiting for tokens form a line (FIFO). Only its head
// has a place on the timer heap, due when the key's bucket will hold a
// token; then it goes to the ready queue (sTokened) and takes the token
// when a worker starts it, and the next in line becomes the head. A token
// is taken as an attempt starts, never ahead of it, so jobs that wait for a
// worker do not bank tokens and then start in a burst, and a rate that
// drops (an adaptive key throttled) applies to the very next attempt.
func (s *Scheduler) pace(t *task, ks *keyState, now int64) bool {
	lim := ks.limiter()
	if ks.head != t && (ks.head != nil || ks.line.len() > 0) {
		// Others wait for tokens already: behind them, no heap entry yet.
		if s.outlasts(t, now, satAdd(now, int64(float64(ks.paced+1)/ks.rateNow()*float64(time.Second)))) {
			s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp)
			return false
		}
		s.toPaced(t, ks)
		ks.line.push(t)
		s.changed()
		return false
	}
	at := s.timeAt(now)
	if lim.AllowN(at, 1) {
		s.nextHead(ks, t) // when t was the head
		return true
	}
	due := tokenDue(lim, at, now)
	if s.outlasts(t, now, due) {
		s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp) // (the next in line becomes the head)
		return false
	}
	ks.head = t
	s.toPaced(t, ks)
	s.parkAt(t, due, sPaced)
	s.changed()
	return false
}

// tokenDue returns when lim, read at at (scheduler time now), will hold a
// whole token: after now when it holds less. (Rounding may leave it a
// hair short then: the job then waits once more, a nanosecond.)
func tokenDue(lim *rate.Limiter, at time.Time, now int64) int64 {
	missing := 1 - lim.TokensAt(at)
	if missing <= 0 || lim.Limit() == rate.Inf {
		return now
	}
	return satAdd(now, int64(math.Ceil(missing/float64(lim.Limit())*float64(time.Second))))
}

// toPaced counts t as waiting for its key's token (state sPaced, set by
// the caller with the place). Called with mu.
func (s *Scheduler) toPaced(t *task, ks *keyState) {
	s.nPaced++
	ks.paced++
	t.state = sPaced
}

// unpace uncounts t, which stops waiting for its key's token in line or on
// the heap (its turn came, or it ended). Called with mu.
func (s *Scheduler) unpace(t *task) {
	s.nPaced--
	if ks := s.keyOf(t); ks != nil {
		ks.paced--
	}
}

// nextHead moves the line of ks along once t, its head, no longer waits
// for the key's token: it took it, ended, or waits for a pause. Called with
// mu.
func (s *Scheduler) nextHead(ks *keyState, t *task) {
	if ks.head != t {
		return
	}
	ks.head = nil
	s.nextPaced(ks)
}

// nextPaced makes the first job left in the line of ks its head: to the
// ready queue when the key's bucket holds a token (it takes it when a
// worker starts it), on the heap until one is due otherwise. Called with
// mu.
func (s *Scheduler) nextPaced(ks *keyState) {
	for {
		t := ks.line.pop()
		if t == nil {
			return
		}
		if t.state != sPaced {
			continue // ended while in line (uncounted then)
		}
		now := s.now()
		due := now
		if lim := ks.limiter(); lim != nil {
			due = tokenDue(lim, s.timeAt(now), now)
		}
		if due > now && s.outlasts(t, now, due) {
			s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp) // (uncounts it)
			continue
		}
		ks.head = t
		if due > now {
			s.parkAt(t, due, sPaced) // still counted as paced
			return
		}
		s.unpace(t)
		t.state = sTokened
		s.ready.push(t)
		s.signal()
		return
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
		if until := a.keepUntil(); now < until {
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
