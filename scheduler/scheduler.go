package scheduler

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sync/semaphore"

	"github.com/rebound-go/rebound/internal/core"
	"github.com/rebound-go/rebound/job"
)

// Task states (core.Task.State), guarded by Scheduler.mu.
const (
	sNew       uint8 = iota
	sQueued          // in the fresh or ready queue
	sRunning         // on a worker: the attempt
	sJudging         // on a worker: the attempt has returned; verdict and hooks
	sParked          // on the timer heap
	sGated           // waiting for its key (limit or pause)
	sDone            // resolved (a queued tombstone is skipped)
	sAbandoned       // resolved while its attempt still ran
)

// Scheduler runs jobs on a bounded pool of workers and parks failed attempts
// on a timer heap until their retry is due. It is safe for concurrent use.
// Create one with New and end it with Shutdown or Close; the zero value is
// not usable.
type Scheduler struct {
	cfg      config
	env      *core.Env
	clock    clock.Clock
	epoch    time.Time
	defaults *core.Policy
	admit    *semaphore.Weighted

	// closing ends when intake stops; Submit calls blocked on admission
	// watch it.
	closing     context.Context
	stopIntake  context.CancelFunc
	closedFlag  atomic.Bool
	drained     chan struct{}  // closed once intake stopped and no job is left
	workersDone sync.WaitGroup // attached workers and the timer goroutine
	callbacks   sync.WaitGroup // ctx watch callbacks
	feeders     sync.WaitGroup // Map's submitting goroutines; Add only with mu, before intake stops

	mu        sync.Mutex
	work      sync.Cond // workers wait here for work
	fresh     queue     // new submissions
	ready     queue     // retries due, and jobs released by their key: before fresh
	heap      timerHeap
	slots     []*core.Task // the task on each worker, by worker id
	freeIDs   []int
	idle      int // workers waiting on work
	wakes     int // signals sent and not yet taken
	workers   int // attached workers
	running   int
	inflight  int   // admitted, not resolved
	closed    bool  // intake stopped
	stopping  bool  // workers and the timer goroutine exit when idle
	cancelAll error // non-nil once every job must end with it
	timerOn   bool
	armed     int64 // the due time the heap's timer is armed for; never: none
	sweepAt   int64 // when a key pause ends and idle keys must be swept; never: none
	nWaiting  int   // tasks waiting for a key slot
	wake      chan struct{}
	watches   map[<-chan struct{}]*watch
	waiters   []*waiter
	keys      map[string]*keyState
	budget    *budget
	global    *bucket
	st        Stats
}

// New returns a Scheduler configured by opts (see the With* options for the
// defaults). Its goroutines start as work arrives.
func New(opts ...Option) *Scheduler {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	s := &Scheduler{
		cfg:      cfg,
		clock:    cfg.clock,
		admit:    semaphore.NewWeighted(int64(cfg.queueSize)),
		drained:  make(chan struct{}),
		slots:    make([]*core.Task, cfg.workers),
		armed:    never,
		sweepAt:  never,
		wake:     make(chan struct{}, 1),
		watches:  make(map[<-chan struct{}]*watch),
		keys:     make(map[string]*keyState),
		defaults: core.Default,
		budget:   cfg.budget,
	}
	s.epoch = s.clock.Now()
	s.env = &core.Env{Cancel: s.cancelTask, Clock: s.clock, Rand: cfg.rand, Epoch: s.epoch}
	s.work.L = &s.mu
	s.closing, s.stopIntake = context.WithCancel(context.Background())
	for i := cfg.workers - 1; i >= 0; i-- {
		s.freeIDs = append(s.freeIDs, i)
	}
	if len(cfg.defaults) > 0 {
		var b core.Builder
		b.Reset(nil)
		for _, o := range cfg.defaults {
			core.ApplyOption(o, &b)
		}
		s.defaults = b.Policy()
	}
	return s
}

// never is the due time of nothing. Scheduler times can be negative (a mock
// clock set before the scheduler's creation), so it is not -1.
const never = math.MinInt64

// now is the scheduler's time: nanoseconds since New on its clock
// (monotonic with the real clock).
func (s *Scheduler) now() int64 { return int64(s.clock.Since(s.epoch)) }

// dueAfter returns now+d, saturating.
func (s *Scheduler) dueAfter(d time.Duration) int64 { return core.SatAdd(s.now(), int64(d)) }

// signal makes sure a worker will take the work just queued. Called with mu.
func (s *Scheduler) signal() {
	if s.idle > s.wakes {
		s.wakes++
		s.work.Signal()
		return
	}
	s.spawn()
}

// spawn starts a worker if the pool has room. Called with mu.
func (s *Scheduler) spawn() {
	if s.workers >= s.cfg.workers || len(s.freeIDs) == 0 || s.stopping {
		return
	}
	id := s.freeIDs[len(s.freeIDs)-1]
	s.freeIDs = s.freeIDs[:len(s.freeIDs)-1]
	s.workers++
	s.workersDone.Add(1)
	go s.worker(id)
}

// take returns the next task to run, retries first, or nil. Called with mu.
func (s *Scheduler) take() *core.Task {
	for {
		t := s.ready.pop()
		if t == nil {
			t = s.fresh.pop()
		}
		if t == nil {
			return nil
		}
		if t.State != sQueued {
			continue // canceled while queued
		}
		if s.gate(t) {
			return t
		}
	}
}

// worker runs attempts until the scheduler stops. A worker whose attempt is
// abandoned leaves (its slot goes to a replacement) when the attempt
// returns.
func (s *Scheduler) worker(id int) {
	s.mu.Lock()
	for {
		t := s.take()
		if t == nil {
			if s.stopping {
				s.workers--
				s.freeIDs = append(s.freeIDs, id)
				s.mu.Unlock()
				s.workersDone.Done()
				return
			}
			s.idle++
			s.changed()
			s.work.Wait()
			s.idle--
			if s.wakes > 0 {
				s.wakes--
			}
			continue
		}
		if !s.runOne(id, t) {
			return // abandoned: mu is not held
		}
	}
}

// runOne runs one attempt of t and acts on its verdict. Called with mu, and
// returns with mu held, unless t was abandoned meanwhile: then it returns
// false without mu, and the calling worker must exit.
func (s *Scheduler) runOne(id int, t *core.Task) bool {
	if stop := s.stopOf(t); stop != nil {
		s.finish(t, t.Fail(stop), endCanceled, true)
		return true
	}
	if t.Late() {
		s.finish(t, t.Fail(job.ErrDeadline), endGaveUp, true)
		return true
	}
	n := t.Begin()
	if n == 1 && s.budget != nil {
		s.deposit(t)
	}
	// The attempt's context: the task's embedded one for an unbounded first
	// attempt, a new one otherwise. Cancel may reach it from another
	// goroutine as soon as t.Cur is set, even before Start.
	timeout, bounded := t.AttemptTimeout()
	var ac *core.AttemptCtx
	var actx context.Context = &t.First
	if n > 1 || bounded {
		ac = new(core.AttemptCtx)
		actx = ac
	}
	t.State, t.Cur = sRunning, ac
	s.slots[id] = t
	s.running++
	s.changed()
	s.mu.Unlock()

	if ac != nil {
		ac.Start(t.Ctx, n, timeout, bounded, s.clock, false)
	}
	var watchdog *clock.Timer
	if to := t.Policy.AttemptTimeout; to > 0 && to <= math.MaxInt64-s.cfg.grace {
		watchdog = s.clock.AfterFunc(to+s.cfg.grace, func() { s.overrun(t, n) })
	}
	retryValue, err, cls, owned := t.Attempt(actx, (*owner)(s)) // owned: with mu held
	t.EndAttempt(ac)
	if watchdog != nil {
		watchdog.Stop()
	}
	if !owned {
		return false // abandoned meanwhile: the job has resolved without us
	}
	t.Cur = nil
	t.State = sJudging
	// What the attempt's end means for other jobs takes effect now, before
	// any user code runs: its hint pauses the key.
	s.pause(t, cls.Hint)
	if err == nil && !retryValue && t.Policy.OnSuccess == nil && s.cfg.logger == nil {
		// Success with no hook to run: settle it under this same lock.
		t.JudgeClass(nil, false, nil, cls)
		s.slots[id] = nil
		s.running--
		s.finish(t, nil, endSucceeded, true)
		return true
	}
	stop := s.stopOf(t)
	s.mu.Unlock()

	// The verdict: RetryIf, the strategy and the jitter (user code, outside
	// the lock). A retry then takes its budget token and fixes its due time,
	// before the hooks run, so that a slow hook neither delays the budget nor
	// lengthens the wait (the wait counts from the verdict).
	d := t.JudgeClass(err, retryValue, stop, cls)
	var due int64
	if d.Verdict == core.Retry {
		s.mu.Lock()
		due, d = s.plan(t, d)
		s.mu.Unlock()
		if d.Verdict == core.Retry && !s.spend(t) {
			d.Verdict, d.Reason = core.GiveUp, job.ErrBudget
		}
	}
	var final error
	switch d.Verdict {
	case core.Succeed:
		t.Succeeded()
	case core.GiveUp:
		final = t.Fail(d.Reason)
		t.GaveUp(final)
		s.logGiveUp(t, final)
	case core.Retry:
		t.Retrying(d.Wait)
		s.logRetry(t, d.Wait)
	}

	s.mu.Lock()
	if t.State == sAbandoned {
		s.mu.Unlock()
		return false
	}
	s.slots[id] = nil
	s.running--
	switch d.Verdict {
	case core.Succeed:
		s.finish(t, nil, endSucceeded, true)
	case core.GiveUp:
		kind := endGaveUp
		switch {
		case d.Reason == stop && stop != nil:
			kind = endCanceled
		case d.Reason == job.ErrBudget:
			kind = endBudget
		}
		s.finish(t, final, kind, true)
	case core.Retry:
		s.park(t, due)
	}
	return true
}

// plan fixes the due time of t's retry from now, the verdict's time: after
// the verdict's wait and, when t's key is paused, after the pause (spread).
// A retry that would start at or past t's deadline, or wait longer than its
// MaxWait for the key, gives up now with job.ErrDeadline. The returned
// decision's Wait is the wait that really follows. Called with mu.
func (s *Scheduler) plan(t *core.Task, d core.Decision) (int64, core.Decision) {
	now := s.now()
	due := core.SatAdd(now, int64(d.Wait))
	if ks := s.keys[t.Key]; ks != nil && t.Key != "" && ks.paused > now {
		if ks.paused > due && s.outlasts(t, now, ks.paused) {
			return 0, core.Decision{Verdict: core.GiveUp, Reason: job.ErrDeadline, Hint: d.Hint}
		}
		due = max(due, s.resumeAt(ks, now, t))
	}
	if dl, ok := t.DeadlineAt(); ok && due >= dl {
		return 0, core.Decision{Verdict: core.GiveUp, Reason: job.ErrDeadline, Hint: d.Hint}
	}
	d.Wait = time.Duration(due - now)
	return due, d
}

// owner is how an attempt's end reaches the scheduler (core.Owner): it
// takes mu and reports whether the task is still the attempt's.
type owner Scheduler

func (o *owner) Own(t *core.Task) bool {
	s := (*Scheduler)(o)
	s.mu.Lock()
	if t.State == sAbandoned {
		s.mu.Unlock()
		return false
	}
	return true
}

// stopOf returns why t must stop now, or nil. Called with mu.
func (s *Scheduler) stopOf(t *core.Task) error {
	if err := t.Stop(); err != nil {
		return err
	}
	if s.cancelAll != nil {
		return s.cancelAll
	}
	return core.Cause(t.Ctx)
}

// park puts t on the timer heap until due (see plan), or on the ready queue
// when due has passed already (its hooks took that long). Called with mu.
func (s *Scheduler) park(t *core.Task, due int64) {
	s.release(t) // a parked job holds no slot of its key
	if stop := s.stopOf(t); stop != nil {
		s.finish(t, t.Fail(stop), endCanceled, true)
		return
	}
	s.st.Retried++
	if due <= s.now() {
		t.State = sQueued
		s.ready.push(t)
		s.signal()
		return
	}
	s.parkAt(t, due)
}

// parkAt puts t on the heap due at due. Called with mu.
func (s *Scheduler) parkAt(t *core.Task, due int64) {
	t.State, t.Due = sParked, due
	s.heap.push(t)
	s.ensureTimer()
	if t.Index == 0 && (s.armed == never || due < s.armed) {
		s.wakeTimer() // (armed is never while the loop re-arms: a spare wake is harmless)
	}
}

// ensureTimer starts the timer goroutine if it is not running. Called with
// mu.
func (s *Scheduler) ensureTimer() {
	if !s.timerOn && !s.stopping {
		s.timerOn = true
		s.workersDone.Add(1)
		go s.timerLoop()
	}
}

func (s *Scheduler) wakeTimer() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// timerLoop owns the heap's one timer: it arms it for the earliest due task
// (or key sweep) and, when it fires, moves every due task to the ready
// queue. It runs no user code.
//
// While it re-arms the timer, armed is never, so WaitSettled cannot report
// settled with a timer that is not registered yet: a test's mock.Add then
// always finds the timer in place.
func (s *Scheduler) timerLoop() {
	defer s.workersDone.Done()
	var tm *clock.Timer
	var tc <-chan time.Time
	for {
		s.mu.Lock()
		now := s.now()
		for len(s.heap) > 0 && s.heap[0].Due <= now {
			t := s.heap.popMin()
			t.State = sQueued
			s.ready.push(t)
			s.signal()
		}
		if s.sweepAt != never && s.sweepAt <= now {
			s.sweepKeys()
		}
		s.armed = never
		if s.stopping {
			s.mu.Unlock()
			if tm != nil {
				tm.Stop()
			}
			return
		}
		next := s.nextDue()
		select { // a wake from before this point is answered by this pass
		case <-s.wake:
		default:
		}
		s.mu.Unlock()

		if tm != nil && !tm.Stop() {
			select { // drop a fire we will not wait for (the mock's C is buffered)
			case <-tm.C:
			default:
			}
		}
		tc = nil
		if next != never {
			d := time.Duration(next - s.now())
			if d <= 0 {
				continue // due already
			}
			if tm == nil {
				tm = s.clock.Timer(d)
			} else {
				tm.Reset(d)
			}
			tc = tm.C
		}

		s.mu.Lock()
		if s.nextDue() != next || len(s.wake) > 0 {
			s.mu.Unlock()
			continue // the heap changed meanwhile: look again
		}
		s.armed = next
		s.changed()
		s.mu.Unlock()

		select {
		case <-tc:
		case <-s.wake:
		}
	}
}

// nextDue is when the timer must next fire: the earliest parked task or key
// sweep, or never. Called with mu.
func (s *Scheduler) nextDue() int64 {
	next := s.sweepAt
	if len(s.heap) > 0 && (next == never || s.heap[0].Due < next) {
		next = s.heap[0].Due
	}
	return next
}

// End kinds, for Stats.
const (
	endSucceeded = iota
	endGaveUp
	endCanceled
	endBudget
)

// finish resolves t and does the bookkeeping of a job that ended. Called
// with mu. keep: the last attempt has returned (its value may be kept).
func (s *Scheduler) finish(t *core.Task, err error, kind int, keep bool) {
	if t.State == sParked {
		if t.Index == 0 {
			s.wakeTimer() // the timer is armed for t: re-arm it
		}
		s.heap.remove(int(t.Index))
	}
	t.State = sDone
	s.unwatch(t)
	s.keyJobDone(t)
	if !t.Resolve(err, keep) {
		return
	}
	s.inflight--
	switch kind {
	case endSucceeded:
		s.st.Succeeded++
	case endGaveUp:
		s.st.GaveUp++
	case endBudget:
		s.st.GaveUp++
		s.st.BudgetDenied++
	case endCanceled:
		s.st.Canceled++
	}
	s.admit.Release(1)
	if s.closed && s.inflight == 0 {
		s.closeDrained()
	}
	s.changed()
}

func (s *Scheduler) closeDrained() {
	select {
	case <-s.drained:
	default:
		close(s.drained)
	}
}

// overrun abandons attempt n of t if it is still running past its
// AttemptTimeout plus the grace, and gives its worker slot to a new worker.
func (s *Scheduler) overrun(t *core.Task, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.State != sRunning || t.Attempts() != n {
		return
	}
	s.abandon(t, job.ErrDeadline)
}

// abandon resolves running task t without waiting for its attempt, detaches
// its worker and, unless stopping, starts a replacement. Called with mu.
func (s *Scheduler) abandon(t *core.Task, reason error) {
	id := -1
	for i, r := range s.slots {
		if r == t {
			id = i
			break
		}
	}
	if id < 0 {
		return
	}
	s.slots[id] = nil
	s.running--
	s.workers--
	s.freeIDs = append(s.freeIDs, id)
	s.workersDone.Done() // the goroutine leaves when the attempt returns
	s.st.Abandoned++
	s.unwatch(t)
	t.State = sAbandoned
	var elapsed time.Duration
	if t.StartKnown() {
		elapsed = t.Elapsed() // otherwise the worker may be setting the start
	}
	if t.Resolve(core.MakeError(reason, ErrAbandoned, t.Attempts(), elapsed), false) {
		s.inflight--
		if reason == job.ErrClosed {
			s.st.Canceled++
		} else {
			s.st.GaveUp++
		}
		s.admit.Release(1)
		if s.closed && s.inflight == 0 {
			s.closeDrained()
		}
	}
	s.keyJobDone(t)
	if !s.stopping && (s.fresh.len() > 0 || s.ready.len() > 0) {
		s.spawn()
	}
	s.changed()
}
