package scheduler

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/job"
)

// Scheduler runs jobs on a bounded pool of workers and parks failed attempts
// on a timer heap until their retry is due. It is safe for concurrent use.
// Create one with New and end it with Shutdown or Close; the zero value is
// not usable.
//
// Its lifecycle is one phase (open, draining, cancelling, stopped), moved
// forward only, under mu. One function, resolve, ends every job, whatever
// ended it.
type Scheduler struct {
	cfg      config
	env      *job.Env
	clock    clock.Clock
	epoch    time.Time
	defaults *job.Policy // nil: the package defaults

	// Admission (WithQueueSize): jobs admitted and not resolved. A
	// submission takes a place with one atomic operation while there is
	// room; Submit calls blocked on a full scheduler wait in admitWaiters.
	admitted   atomic.Int64
	nAdmitWait atomic.Int32

	// between counts workers whose attempt has returned and that will look
	// for work again without a wake: a job queued while there are enough
	// of them wakes no sleeping worker.
	between atomic.Int32

	// Written with mu, read anywhere (a submission decides without mu
	// whether a worker must be woken or started).
	idle      atomic.Int32 // workers waiting on work
	workers   atomic.Int32 // attached workers
	submitted atomic.Uint64
	obs       atomic.Pointer[observerBox] // len(admitWaiters), readable without mu

	phase       atomic.Int32  // written with mu; read anywhere
	closing     chan struct{} // closed when intake stops
	drained     chan struct{} // closed once intake has stopped and no job is left
	workersDone sync.WaitGroup
	callbacks   sync.WaitGroup // ctx watch callbacks
	feeders     sync.WaitGroup // Map's submitting goroutines; Add only with mu, while open
	stopOnce    sync.Once      // the observer's Stopped event

	mu           sync.Mutex
	work         sync.Cond // workers wait here for work
	fresh        inbox     // new submissions; pushed without mu
	ready        queue     // retries due, and jobs released by their key: before fresh
	heap         timerHeap
	slots        []*task        // the task on each worker, by worker id
	attempts     []*job.Attempt // the context of each worker's attempt, by worker id
	freeIDs      []int
	wakes        int // signals sent and not yet taken
	running      int
	timerOn      bool
	armed        int64                // the due time the heap's timer is armed for; never: none
	sweepAt      int64                // when a key pause ends and idle keys must be swept; never: none
	nWaiting     int                  // tasks waiting for a key slot
	nPaced       int                  // tasks on the heap waiting for their key's token
	rates        map[string]*rateSpec // SetKeyRate's settings
	wake         chan struct{}
	watches      map[<-chan struct{}]*watch
	waiters      []*waiter
	admitWaiters []chan struct{}
	keys         map[string]*keyState
	spareKey     *keyState // a dropped key's state, reset, for the next new key
	budget       *budget
	global       *bucket
	st           Stats
}

// The phases of a scheduler's life.
const (
	open       int32 = iota // accepting jobs
	draining                // Shutdown: intake stopped, jobs run to their end
	cancelling              // every job left ends with job.ErrClosed
	stopped                 // workers and the timer goroutine exit when idle
)

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
		closing:  make(chan struct{}),
		drained:  make(chan struct{}),
		slots:    make([]*task, cfg.workers),
		attempts: make([]*job.Attempt, cfg.workers),
		armed:    never,
		sweepAt:  never,
		wake:     make(chan struct{}, 1),
		watches:  make(map[<-chan struct{}]*watch),
		keys:     make(map[string]*keyState),
		budget:   cfg.budget,
	}
	s.epoch = s.clock.Now()
	s.env = &job.Env{Clock: s.clock, Rand: cfg.rand, Epoch: s.epoch}
	s.work.L = &s.mu
	s.fresh.init()
	for i := cfg.workers - 1; i >= 0; i-- {
		s.freeIDs = append(s.freeIDs, i)
	}
	if len(cfg.defaults) > 0 {
		s.defaults = job.NewPolicy(cfg.defaults...)
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
func (s *Scheduler) dueAfter(d time.Duration) int64 { return satAdd(s.now(), int64(d)) }

// satAdd returns a+b, saturating at math.MaxInt64 instead of wrapping.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// signal makes sure a worker will take the work just queued. Called with mu.
func (s *Scheduler) signal() {
	if int(s.between.Load()) >= s.fresh.len()+s.ready.len() {
		return // workers between two jobs will take it: no wake needed
	}
	if int(s.idle.Load()) > s.wakes {
		s.wakes++
		s.work.Signal()
		return
	}
	s.spawn()
}

// spawn starts a worker if the pool has room. Called with mu.
func (s *Scheduler) spawn() {
	if int(s.workers.Load()) >= s.cfg.workers || len(s.freeIDs) == 0 || s.phase.Load() == stopped {
		return
	}
	id := s.freeIDs[len(s.freeIDs)-1]
	s.freeIDs = s.freeIDs[:len(s.freeIDs)-1]
	s.workers.Add(1)
	s.workersDone.Add(1)
	go s.worker(id)
}

// take returns the next task to run, retries first, or nil. Called with mu.
func (s *Scheduler) take() *task {
	for {
		t := s.ready.pop()
		if t == nil {
			t = s.fresh.pop()
		}
		if t == nil {
			return nil
		}
		if t.state != sQueued && t.state != sTokened {
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
	spare := new(job.Attempt) // the next attempt's context, made outside the lock
	s.mu.Lock()
	for {
		t := s.take()
		if t == nil {
			if s.phase.Load() == stopped {
				s.workers.Add(-1)
				s.freeIDs = append(s.freeIDs, id)
				s.mu.Unlock()
				s.workersDone.Done()
				return
			}
			// Idle first, then look once more: a submission pushed without
			// mu either is found now or sees this worker idle and wakes it.
			s.idle.Add(1)
			if t = s.take(); t != nil {
				s.idle.Add(-1)
			} else {
				s.changed()
				s.work.Wait()
				s.idle.Add(-1)
				if s.wakes > 0 {
					s.wakes--
				}
				continue
			}
		}
		if !s.runOne(id, t, &spare, true) {
			return // abandoned: mu is not held
		}
	}
}

// runInline runs t's attempt on the calling goroutine (Do) as if on a
// worker: it takes a free worker place for the attempt, so that
// WithWorkers bounds inline attempts too, and gives it back afterwards,
// waking a worker for a job queued meanwhile that counted on it. Called
// with mu and a free place; returns without mu.
func (s *Scheduler) runInline(t *task, a *job.Attempt) {
	id := s.freeIDs[len(s.freeIDs)-1]
	s.freeIDs = s.freeIDs[:len(s.freeIDs)-1]
	s.workers.Add(1)
	s.workersDone.Add(1)
	if !s.runOne(id, t, &a, false) {
		return // abandoned: its place was given back then
	}
	// A submission that saw this place busy, or this caller between two
	// jobs, woke no worker: the caller leaves instead of taking the job.
	s.workers.Add(-1)
	s.freeIDs = append(s.freeIDs, id)
	if s.fresh.len()+s.ready.len() > 0 {
		s.signal()
	}
	s.mu.Unlock()
	s.workersDone.Done()
}

// runOne runs one attempt of t and acts on its verdict. Called with mu, and
// returns with mu held, unless t was abandoned meanwhile: then it returns
// false without mu, and the calling worker must exit. *spare is the
// attempt's context; with refill (a worker) it is replaced, outside the
// lock, for the worker's next attempt.
//
// The lock is handed off at two points, each documented where it happens:
// released while the attempt runs (taken back as it returns, when what the
// attempt means for other jobs takes effect: returned), and released while
// the verdict and the hooks run (user code: conclude), taken once in
// between to fix a retry's due time and budget token before any hook runs.
func (s *Scheduler) runOne(id int, t *task, spare **job.Attempt, refill bool) bool {
	n, ok := s.begin(id, t, spare)
	if !ok {
		return true // t ended before its attempt
	}
	a := s.attempts[id]
	s.mu.Unlock() // hand-off 1: the attempt runs without the lock

	if refill {
		*spare = new(job.Attempt) // a worker's next attempt's context
	}
	var watchdog *clock.Timer
	if to := t.run.Policy().AttemptTimeout(); to > 0 && to <= math.MaxInt64-s.cfg.grace {
		watchdog = s.clock.AfterFunc(to+s.cfg.grace, func() { s.overrun(t, n) })
	}
	actx := t.ctx // the parent of the attempt's context: the job's, or the observer's
	obs := s.observer()
	if obs != nil {
		actx = obs.StartAttempt(t.ctx, t.run.Key(), n)
	}
	o, owned := t.job.attempt(actx, a) // owned: with mu held again
	if watchdog != nil {
		watchdog.Stop()
	}
	if !owned {
		// Abandoned meanwhile: the job has resolved without us.
		if obs != nil {
			obs.Observe(actx, Event{Kind: AttemptEnded, Key: t.run.Key(), Attempt: n, Err: o.Err, Abandoned: true})
		}
		return false
	}
	if s.returned(id, t, o, obs) {
		return true // a success with nothing to run: settled under this lock
	}
	return s.conclude(id, t, n, o, actx, obs)
}

// begin checks that t may make an attempt, counts it and puts t on worker
// id with the attempt's context. It reports false when t ended instead (its
// context, a stop, its deadline). Called with mu.
func (s *Scheduler) begin(id int, t *task, spare **job.Attempt) (n int, ok bool) {
	if stop := s.stopOf(t); stop != nil {
		s.resolve(t, t.run.Fail(stop), endCanceled)
		return 0, false
	}
	if t.run.Late() {
		s.resolve(t, t.run.Fail(job.ErrDeadline), endGaveUp)
		return 0, false
	}
	n = t.run.Begin()
	t.job.begin()
	if ks := s.adaptiveKeyOf(t); ks != nil {
		t.due = s.now() // while it runs: when the attempt started
		ks.adaptive.sent(t.due)
	}
	if n == 1 && s.budget != nil {
		s.deposit(t)
	}
	// The attempt's context, new for each attempt (an ended context stays
	// ended). Cancel may reach it as soon as it is in s.attempts, even
	// before the attempt starts.
	s.attempts[id] = *spare
	*spare = nil
	t.state = sRunning
	s.slots[id] = t
	s.running++
	s.changed()
	return n, true
}

// returned acts on t's attempt as it returns, before any user code runs:
// its hint pauses its key and an adaptive key's rate follows the answer. A
// success with no hook, logger or observer to run is settled here, and
// returned reports true. Called with mu.
func (s *Scheduler) returned(id int, t *task, o job.Outcome, obs Observer) bool {
	s.attempts[id] = nil
	t.state = sJudging
	s.pause(t, o.Hint)
	if ks := s.adaptiveKeyOf(t); ks != nil {
		now := s.now()
		ks.adaptive.observe(now, o.Throttled, o.Hint, ks.paced > 0, s.timeAt(now), t.due)
	}
	if o.Failed() || t.run.Policy().Hooked() || s.cfg.logger != nil || obs != nil {
		return false
	}
	t.run.Judge(o, nil)
	s.slots[id] = nil
	s.running--
	s.resolve(t, nil, endSucceeded)
	s.between.Add(-1) // back to take, with mu
	return true
}

// conclude judges t's attempt and acts on the verdict: a retry parks, an
// end resolves. Called with mu; it releases it for the verdict and the
// hooks (user code), and returns with it held, unless t was abandoned
// meanwhile: then it returns false without mu.
func (s *Scheduler) conclude(id int, t *task, n int, o job.Outcome, actx context.Context, obs Observer) bool {
	stop := s.stopOf(t)
	s.between.Add(-1) // user code may take long: a job queued meanwhile wakes a worker
	s.mu.Unlock()     // hand-off 2: the verdict and the hooks run without the lock

	// The verdict: RetryIf, the strategy and the jitter. A retry then fixes
	// its due time and takes its budget token before the hooks run, so that
	// a slow hook neither delays the budget nor lengthens the wait (the wait
	// counts from the verdict).
	d := t.run.Judge(o, stop)
	kind := endGaveUp
	var due int64
	if d.Retry {
		s.mu.Lock()
		due, d = s.plan(t, d)
		if d.Retry && !s.spend(t) {
			d.Retry, d.Reason, kind = false, job.ErrBudget, endBudget
		}
		s.mu.Unlock()
	}
	if obs != nil {
		obs.Observe(actx, Event{Kind: AttemptEnded, Key: t.run.Key(), Attempt: n, Err: o.Err, Retry: d.Retry, Wait: d.Wait, Reason: d.Reason})
	}
	var final error
	switch {
	case d.Succeeded():
		kind = endSucceeded
		t.run.Succeeded()
	case d.Retry:
		t.run.Retrying(d.Wait)
		s.logRetry(t, d.Wait)
	default:
		if stop != nil && d.Reason == stop {
			kind = endCanceled
		}
		final = t.run.Fail(d.Reason)
		t.run.GaveUp(final)
		s.logGiveUp(t, final)
	}

	s.between.Add(1)
	s.mu.Lock()
	if t.state == sAbandoned {
		s.between.Add(-1) // its worker leaves
		s.mu.Unlock()
		return false
	}
	s.slots[id] = nil
	s.running--
	if d.Retry {
		s.park(t, due)
	} else {
		s.resolve(t, final, kind)
	}
	s.between.Add(-1) // back to take, with mu
	return true
}

// plan fixes the due time of t's retry from now, the verdict's time: after
// the verdict's wait and, when t's key is paused, after the pause (spread).
// A retry that would start at or past t's deadline, or wait longer than its
// MaxWait for the key, gives up now with job.ErrDeadline. The returned
// decision's Wait is the wait that really follows. Called with mu.
func (s *Scheduler) plan(t *task, d job.Decision) (int64, job.Decision) {
	now := s.now()
	due := satAdd(now, int64(d.Wait))
	if ks := s.keyOf(t); ks != nil && ks.paused > now {
		if ks.paused > due && s.outlasts(t, now, ks.paused) {
			return 0, job.Decision{Reason: job.ErrDeadline, Hint: d.Hint}
		}
		due = max(due, s.resumeAt(ks, now, t))
	}
	if dl, ok := s.deadlineOf(t); ok && due >= dl {
		return 0, job.Decision{Reason: job.ErrDeadline, Hint: d.Hint}
	}
	d.Wait = time.Duration(due - now)
	return due, d
}

// deadlineOf returns t's deadline in the scheduler's time.
func (s *Scheduler) deadlineOf(t *task) (int64, bool) {
	dl, ok := t.run.Deadline()
	if !ok {
		return 0, false
	}
	return int64(dl.Sub(s.epoch)), true
}

// stopOf returns why t must stop now, or nil. Called with mu.
func (s *Scheduler) stopOf(t *task) error {
	switch t.stop {
	case stopCanceled:
		return context.Canceled
	case stopClosed:
		return job.ErrClosed
	case stopCtx:
		return context.Cause(t.ctx)
	}
	if s.phase.Load() >= cancelling {
		return job.ErrClosed
	}
	if t.ctx.Err() != nil {
		return context.Cause(t.ctx)
	}
	return nil
}

// park puts t on the timer heap until due (see plan), or on the ready queue
// when due has passed already (its hooks took that long). Called with mu.
func (s *Scheduler) park(t *task, due int64) {
	s.release(t) // a parked job holds no slot of its key
	if stop := s.stopOf(t); stop != nil {
		s.resolve(t, t.run.Fail(stop), endCanceled)
		return
	}
	s.st.Retried++
	s.watchCtx(t) // (a job whose first attempt ran inline registers now)
	if due <= s.now() {
		t.state = sQueued
		s.ready.push(t)
		s.signal()
		return
	}
	s.parkAt(t, due, sParked)
}

// parkAt puts t on the heap due at due, in state: sParked (a retry, or a
// job waiting out its key's pause) or sPaced (its key's paced head). Called
// with mu.
func (s *Scheduler) parkAt(t *task, due int64, state uint8) {
	t.state, t.due = state, due
	s.heap.push(t)
	s.ensureTimer()
	if t.index == 0 && (s.armed == never || due < s.armed) {
		s.wakeTimer() // (armed is never while the loop re-arms: a spare wake is harmless)
	}
}

// ensureTimer starts the timer goroutine if it is not running. Called with
// mu.
func (s *Scheduler) ensureTimer() {
	if !s.timerOn && s.phase.Load() != stopped {
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
		for len(s.heap) > 0 && s.heap[0].due <= now {
			t := s.heap.popMin()
			if t.state == sPaced {
				s.unpace(t)
				t.state = sTokened // its key's head: a token is due now
			} else {
				t.state = sQueued
			}
			s.ready.push(t)
			s.signal()
		}
		if s.sweepAt != never && s.sweepAt <= now {
			s.sweepKeys()
		}
		s.armed = never
		if s.phase.Load() == stopped {
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
	if len(s.heap) > 0 && (next == never || s.heap[0].due < next) {
		next = s.heap[0].due
	}
	return next
}

// End kinds, for Stats.
const (
	endSucceeded = iota
	endGaveUp
	endCanceled
	endBudget
	endAbandoned         // abandoned at shutdown: counted Canceled + Abandoned
	endAbandonedDeadline // abandoned past AttemptTimeout + grace: GaveUp + Abandoned
)

// resolve ends t with err (nil: success), whatever ended it: it takes t off
// the heap, its context's watch and its key, resolves its future (keeping
// the last attempt's value unless the attempt may still be running), counts
// it, and gives its place back to admission. A job that was never admitted
// (state sNew) is counted as submitted and canceled. Called with mu.
func (s *Scheduler) resolve(t *task, err error, kind int) {
	admitted := t.state != sNew
	head := t.state == sPaced || t.state == sTokened // perhaps its key's head
	if t.index >= 0 {                                // parked, or a paced head
		if t.index == 0 {
			s.wakeTimer() // the timer is armed for t: re-arm it
		}
		s.heap.remove(int(t.index))
	}
	if t.state == sPaced {
		t.state = sDone // a tombstone in its key's line, if it was there
		s.unpace(t)
	}
	abandoned := kind == endAbandoned || kind == endAbandonedDeadline
	if !abandoned {
		t.state = sDone
	}
	if head {
		if ks := s.keyOf(t); ks != nil {
			s.nextHead(ks, t) // the next in line is its key's head now
		}
	}
	s.unwatch(t)
	s.keyJobDone(t)
	if !t.job.resolve(err, !abandoned) {
		return
	}
	if obs := s.observer(); obs != nil {
		if !admitted {
			obs.Observe(t.ctx, Event{Kind: JobSubmitted, Key: t.run.Key()})
		}
		e := Event{Kind: JobEnded, Key: t.run.Key(), Attempt: t.job.attempts(), Err: err, Abandoned: abandoned,
			Canceled: kind == endCanceled || kind == endAbandoned}
		if je, ok := err.(*job.Error); ok {
			e.Reason = je.Reason
		}
		obs.Observe(t.ctx, e)
	}
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
	case endAbandoned:
		s.st.Canceled++
		s.st.Abandoned++
	case endAbandonedDeadline:
		s.st.GaveUp++
		s.st.Abandoned++
	}
	if !admitted {
		s.submitted.Add(1)
		s.changed()
		return
	}
	s.release1()
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
func (s *Scheduler) overrun(t *task, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.state != sRunning || t.run.Attempts() != n {
		return
	}
	s.abandon(t, job.ErrDeadline)
}

// abandon resolves running task t without waiting for its attempt, detaches
// its worker and, unless stopping, starts a replacement. Called with mu.
func (s *Scheduler) abandon(t *task, reason error) {
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
	s.slots[id], s.attempts[id] = nil, nil
	s.running--
	s.workers.Add(-1)
	s.freeIDs = append(s.freeIDs, id)
	s.workersDone.Done() // the goroutine leaves when the attempt returns
	t.state = sAbandoned
	kind := endAbandonedDeadline
	if reason == job.ErrClosed {
		kind = endAbandoned
	}
	// The worker may be writing the run: only what it no longer changes is
	// read here (the attempt count is the future's; the start is fixed when
	// the policy needs time).
	var elapsed time.Duration
	if p := t.run.Policy(); p.AttemptTimeout() > 0 || p.MaxElapsed() > 0 || p.Hooked() {
		elapsed = t.run.Elapsed()
	}
	s.resolve(t, &job.Error{Reason: reason, Last: ErrAbandoned, Attempts: t.job.attempts(), Elapsed: elapsed}, kind)
	if s.phase.Load() != stopped && (s.fresh.len() > 0 || s.ready.len() > 0) {
		s.spawn()
	}
	s.changed()
}
