package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"

	"github.com/rebound-go/rebound/job"
)

// keyState is what the scheduler keeps about one key while the key is in
// use: running attempts, jobs waiting for a slot, a Retry-After pause, and
// the key's retry budget. It is dropped as soon as the key is idle (nothing
// running or waiting, no pause), so a scraper touching millions of hosts
// keeps state only for the hosts it is working on; a dropped key's budget
// starts full again.
type keyState struct {
	jobs     int   // live jobs of the key: queued, waiting, running or parked
	running  int   // slots held: attempts running, and jobs waiting for a token
	paced    int   // jobs waiting for the key's token: head and line
	head     *task // the first job waiting for a token: on the heap (sPaced) or ready (sTokened); nil: none
	line     queue // the paced jobs behind it, no heap entry yet
	waiting  queue
	paused   int64 // scheduler time the pause ends; never: none
	budget   *bucket
	lim      *rate.Limiter // a fixed rate (WithKeyRate, SetKeyRate); nil: none
	adaptive *adaptive     // WithAdaptiveKeyRate; nil: none
}

// WithKeyLimit bounds the attempts of one key (job.Key) running at once.
// Jobs of a saturated key wait without holding a worker, and jobs of other
// keys run past them. 0 means no limit (the default). It panics if n < 0.
func WithKeyLimit(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("scheduler: WithKeyLimit must be >= 0 (0 means none), got %d", n))
	}
	return optionFunc(func(c *config) { c.keyLimit = n })
}

// key returns key k's state, creating it. Called with mu.
func (s *Scheduler) key(k string) *keyState {
	ks := s.keys[k]
	if ks == nil {
		if ks = s.spareKey; ks != nil {
			s.spareKey = nil // (reset as it was dropped)
		} else {
			ks = &keyState{paused: never}
		}
		s.initRate(k, ks)
		s.keys[k] = ks
	}
	return ks
}

// forget drops idle key k's state, keeping the struct, reset, for the next
// key to be created: a keyed job whose key had no state (most hosts in
// turn, or one at a time) then allocates none. Nothing refers to a key's
// state but s.keys. Called with mu.
func (s *Scheduler) forget(k string, ks *keyState) {
	delete(s.keys, k)
	*ks = keyState{paused: never}
	s.spareKey = ks
}

// gate decides whether queued task t may run now; if not, it parks t (its
// key is paused) or makes it wait for a slot of its key. A task that holds a
// slot already (t.slot) passes. Called with mu.
func (s *Scheduler) gate(t *task) bool {
	if t.run.Key() == "" {
		return true
	}
	ks := s.key(t.run.Key())
	if ks.paused != never {
		if now := s.now(); now < ks.paused {
			if t.slot { // it held a slot: give it back
				t.slot = false
				ks.running--
			}
			s.nextHead(ks, t) // its turn for a token waits for the pause too
			s.waitPause(t, ks, now)
			return false
		}
		ks.paused = never
	}
	if !t.slot {
		if s.cfg.keyLimit > 0 && ks.running >= s.cfg.keyLimit {
			t.state = sGated
			ks.waiting.push(t)
			s.nWaiting++
			s.changed()
			return false
		}
		ks.running++
		t.slot = true
	}
	// The token last, as the attempt starts: a job that waits for its key's
	// slot or for a worker has taken none, so it cannot spend it late in a
	// burst. A job waiting for its token keeps its slot.
	if ks.limiter() != nil && !s.pace(t, ks, s.now()) {
		return false // waits for its token, or gave up
	}
	return true
}

// waitPause parks queued task t until its key's pause has passed (spread,
// see resumeAt), or ends it with job.ErrDeadline when the pause outlasts its
// limits. Called with mu.
func (s *Scheduler) waitPause(t *task, ks *keyState, now int64) {
	if s.outlasts(t, now, ks.paused) {
		s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp)
		return
	}
	s.parkAt(t, s.resumeAt(ks, now, t), sParked)
}

// outlasts reports whether waiting from now until due (a key's pause) would
// break t's limits: its deadline, or MaxWait on a single wait. Such a job
// gives up with job.ErrDeadline, as it would for a hint of its own.
func (s *Scheduler) outlasts(t *task, now, due int64) bool {
	if dl, ok := s.deadlineOf(t); ok && due >= dl {
		return true
	}
	mw := t.run.Policy().MaxWait()
	return mw > 0 && due-now > int64(mw)
}

// resumeAt spreads the jobs of a key whose pause ends: each resumes at a
// random point in the first quarter of the pause's length after its end (at
// most 5s, and within the job's deadline and MaxWait), so that a pause does
// not end in a burst. Called with mu.
func (s *Scheduler) resumeAt(ks *keyState, now int64, t *task) int64 {
	spread := min((ks.paused-now)/4, int64(5*time.Second))
	if dl, ok := s.deadlineOf(t); ok {
		spread = min(spread, dl-1-ks.paused)
	}
	if mw := int64(t.run.Policy().MaxWait()); mw > 0 {
		spread = min(spread, now+mw-ks.paused)
	}
	if spread <= 0 {
		return ks.paused
	}
	var r int64
	if rnd := t.run.Env().Rand; rnd != nil {
		r = rnd.Int64N(spread + 1)
	} else {
		r = rand.Int64N(spread + 1)
	}
	return ks.paused + r
}

// pause records a Retry-After hint from t's attempt as a pause of its key:
// no attempt of the key starts before the hint has passed; the later end
// wins. Called with mu.
func (s *Scheduler) pause(t *task, hint time.Duration) { s.pauseKey(t.run.Key(), hint) }

// PauseKey pauses key k for d from now, as a Retry-After hint returned by
// one of its attempts would: no attempt of k starts before the pause ends
// (overlapping pauses: the later end wins), and the jobs of k then resume
// spread over a short interval, not in a burst. Jobs whose deadline or
// MaxWait the pause outlasts give up with job.ErrDeadline. Use it for what a
// server says outside an error (a RateLimit header on a success). It does
// nothing for the empty key, for d <= 0, or once the scheduler has stopped.
// It is safe for concurrent use.
func (s *Scheduler) PauseKey(k string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase.Load() == stopped {
		return
	}
	s.pauseKey(k, d)
}

// pauseKey pauses key k for d. Called with mu.
func (s *Scheduler) pauseKey(k string, d time.Duration) {
	if d <= 0 || k == "" {
		return
	}
	ks := s.key(k)
	end := s.dueAfter(d)
	s.emit(context.Background(), Event{Kind: KeyPaused, Key: k, Wait: d})
	if end > ks.paused {
		ks.paused = end
	}
	if ks.adaptive != nil {
		ks.adaptive.paused(s.now(), end)
	}
	s.st.Pauses++
	if s.sweepAt == never || end < s.sweepAt {
		// Wake the timer when the pause ends, to drop the key if idle.
		s.sweepAt = end
		s.ensureTimer()
		s.wakeTimer()
	}
}

// release gives back the key slot t held for its attempt; it lets the next
// waiting job of the key run and drops the key's state once it is idle.
// Called with mu.
func (s *Scheduler) release(t *task) {
	if !t.slot {
		return
	}
	k := t.run.Key()
	ks := s.keys[k]
	s.giveBack(t, ks)
	s.dropIfIdle(k, ks)
}

// giveBack returns the slot t holds to its key's state ks and lets the
// next waiting job of the key run. Called with mu.
func (s *Scheduler) giveBack(t *task, ks *keyState) {
	t.slot = false
	ks.running--
	s.admitWaiting(ks)
}

// keyJobDone records that a job of t's key has ended, giving back the
// slot it held. Called with mu.
func (s *Scheduler) keyJobDone(t *task) {
	if !t.keyed {
		s.release(t)
		return
	}
	t.keyed = false
	k := t.run.Key()
	ks := s.keys[k] // (a live job's key keeps its state)
	if ks == nil {
		t.slot = false
		return
	}
	if t.slot {
		s.giveBack(t, ks) // release's work, with the one lookup
	}
	ks.jobs--
	s.dropIfIdle(k, ks)
}

// admitWaiting moves waiting jobs of ks to the ready queue while ks has free
// slots, each holding its slot. Called with mu.
func (s *Scheduler) admitWaiting(ks *keyState) {
	for ks.waiting.len() > 0 && (s.cfg.keyLimit == 0 || ks.running < s.cfg.keyLimit) {
		w := ks.waiting.pop()
		if w.state != sGated {
			continue // canceled while waiting
		}
		s.nWaiting--
		if now := s.now(); ks.paused != never && now < ks.paused {
			w.state = sQueued
			s.waitPause(w, ks, now) // on the heap, without a slot
			continue
		}
		ks.running++
		w.slot = true
		w.state = sQueued
		s.ready.push(w)
		s.signal()
	}
}

// dropIfIdle forgets an idle key. Called with mu.
func (s *Scheduler) dropIfIdle(k string, ks *keyState) {
	if ks.jobs > 0 || ks.running > 0 {
		return
	}
	if ks.paused == never && ks.lim == nil && ks.adaptive == nil {
		s.forget(k, ks) // the common case, without reading the clock
		return
	}
	now := s.now()
	if ks.paused != never {
		if now < ks.paused {
			return
		}
		ks.paused = never
	}
	if full, at := s.full(ks, now); !full {
		// Its bucket still refills: keep its pacing; a sweep drops it then.
		if s.sweepAt == never || at < s.sweepAt {
			s.sweepAt = at
			s.ensureTimer()
			s.wakeTimer()
		}
		return
	}
	s.forget(k, ks)
}

// sweepKeys drops keys left idle with an expired pause, and sets when to
// sweep next. Called with mu.
func (s *Scheduler) sweepKeys() {
	s.sweepAt = never
	now := s.now()
	for k, ks := range s.keys {
		s.dropIfIdle(k, ks) // (sets sweepAt for a bucket still refilling)
		if ks.paused > now && (s.sweepAt == never || ks.paused < s.sweepAt) {
			s.sweepAt = ks.paused
		}
	}
}

// KeyStats is a snapshot of one key.
type KeyStats struct {
	Running int           // attempts of the key running
	Waiting int           // jobs waiting for a slot of the key (WithKeyLimit)
	Paced   int           // jobs waiting for the key's rate to give them a token
	Rate    float64       // the key's rate now, attempts per second; 0: not paced
	Paused  time.Duration // how long the key stays paused by a Retry-After hint; 0: not paused
	Budget  float64       // retries the key's budget allows now (WithRetryBudget); 0 without a budget
}

// KeyStats returns a snapshot of key k, and false when the scheduler keeps no
// state for it (the key is idle).
func (s *Scheduler) KeyStats(k string) (KeyStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[k]
	if ks != nil {
		s.dropIfIdle(k, ks)
		ks = s.keys[k]
	}
	if ks == nil {
		return KeyStats{}, false
	}
	st := KeyStats{Running: ks.running - ks.paced, Paced: ks.paced, Rate: ks.rateNow()}
	if ks.head != nil && ks.head.state == sTokened {
		st.Running-- // its slot is held by a job waiting for a worker
	}
	for i := 0; i < ks.waiting.len(); i++ {
		if ks.waiting.at(i).state == sGated {
			st.Waiting++
		}
	}
	if ks.paused != never {
		st.Paused = max(0, time.Duration(ks.paused-s.now()))
	}
	if ks.budget != nil {
		st.Budget = ks.budget.balance(s.now())
	}
	return st, true
}

// keyOf returns t's key state, or nil when t has no key or its key has
// none. Called with mu.
func (s *Scheduler) keyOf(t *task) *keyState {
	if k := t.run.Key(); k != "" {
		return s.keys[k]
	}
	return nil
}

// adaptiveKeyOf returns t's key state when its key's rate is adaptive, or
// nil; without WithAdaptiveKeyRate no key is, and it looks nothing up.
// Called with mu.
func (s *Scheduler) adaptiveKeyOf(t *task) *keyState {
	if s.cfg.adaptive == nil {
		return nil
	}
	if ks := s.keyOf(t); ks != nil && ks.adaptive != nil {
		return ks
	}
	return nil
}
