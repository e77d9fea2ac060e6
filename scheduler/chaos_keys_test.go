package scheduler_test

// The keyed chaos run: seeded rounds, each in a synctest bubble, of a
// scheduler with a random mix of workers, key limits, key rates (fixed,
// adaptive, per key with SetKeyRate), queue sizes, retry budgets and
// graces, fed concurrently through Submit, TrySubmit, Do and Go with keyed
// and un-keyed jobs that succeed, fail, throttle, pause their key with a
// Retry-After hint or block until their context ends, under Future.Cancel,
// shared contexts canceled with a cause, per-job deadlines, PauseKey and
// SetKeyRate from outside, and a Shutdown or Close at a random moment
// (submissions go on past it). Whatever happens:
//
//   - every job resolves exactly once (its future, or Do's return; the
//     observer sees one JobEnded per job), with its value when its
//     operation succeeded, and otherwise a *job.Error whose Reason is one
//     that something in the round can explain (Future.Cancel:
//     context.Canceled; its group's context: the group's cause; its
//     deadline: context.DeadlineExceeded or job.ErrDeadline; Shutdown or
//     Close: job.ErrClosed; its policy: job.ErrExhausted, ErrPermanent,
//     ErrBudget) and whose Attempts is the number of calls of its operation;
//   - a submission after Shutdown or Close has returned is refused with
//     job.ErrClosed and runs nothing;
//   - no more than WithWorkers attempts run at once (Do's inline ones
//     included), no more than WithKeyLimit of one key;
//   - no attempt of a key starts while the key is paused by an earlier
//     hint or PauseKey; the attempts of a key with a fixed rate conform to
//     its token bucket; no attempt starts at or after
//     its job's deadline;
//   - Stats add up and match the outcomes, Pauses counts the hints and
//     PauseKey calls, and after Close no key is kept that has nothing to
//     keep (no pause, no rate).
//
// time.Sleep in the bubble is fake time: a round's 200ms of scheduling take
// a few milliseconds; synctest reports a hang as a deadlock.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// kcKind is what a keyed-chaos job's operation does.
type kcKind int

const (
	kcSucceed   kcKind = iota // succeeds
	kcFlaky                   // fails fails times, then succeeds
	kcFail                    // always fails
	kcHint                    // returns a Retry-After hint fails times, then succeeds
	kcThrottle                // fails fails times marked job.Throttled, then succeeds
	kcBlock                   // blocks until its attempt's context ends
	kcPermanent               // fails with a Permanent error
	kcKinds
)

var kcKindNames = [kcKinds]string{"succeed", "flaky", "fail", "hint", "throttle", "block", "permanent"}

// How a job is submitted.
const (
	kcSubmit = iota
	kcTrySubmit
	kcDo
	kcGo
	kcVias
)

var kcViaNames = [kcVias]string{"Submit", "TrySubmit", "Do", "Go"}

// kcIDKey carries a job's index in its context, for the observer.
type kcIDKey struct{}

// kcConfig is a round's scheduler and the chaos around it.
type kcConfig struct {
	workers, keyLimit, queue int
	rateMode                 int // 0: none, 1: WithKeyRate, 2: WithAdaptiveKeyRate
	rate                     float64
	burst                    int
	budget                   bool
	grace                    time.Duration // -1: the default
	observe                  bool
	keys                     []string
	preset                   map[string]kcRate // SetKeyRate before any job
	groupCancelAt            []time.Duration   // -1: never
	closeAt                  time.Duration
	useClose                 bool
	shutdownWait             time.Duration
	actions                  []kcAction
	submitters               [][]*kcJob
}

type kcRate struct {
	perSecond float64
	burst     int
}

// kcAction is a call from outside the jobs at a fake time.
type kcAction struct {
	at   time.Duration
	what int // 0: PauseKey, 1: SetKeyRate, 2: probe Stats and KeyStats
	key  string
	d    time.Duration
	rate kcRate
}

// kcJob is one job's plan and what was observed of it.
type kcJob struct {
	id          int
	kind        kcKind
	via         int
	key         string
	fails       int
	hint        time.Duration
	delay       time.Duration // fake time each attempt takes, ignoring its context
	maxAttempts int
	policy      *job.Policy
	group       int           // >= 0: the ctx is the group's
	deadline    time.Duration // > 0: the ctx has this timeout
	cancelAt    time.Duration // >= 0: Future.Cancel this long after the submission
	gap         time.Duration // sleep before the submission

	calls        atomic.Int32
	opOK         atomic.Bool
	cancelCalled atomic.Bool
	dl           time.Time // the ctx's deadline

	// Set by the submitter or the waiter, read after both are done.
	afterClosed  bool // submitted after Shutdown or Close returned
	accepted     bool // a future (or Do's result): not refused by TrySubmit
	tryErr       error
	beforeClose  bool // resolved (as seen) before Shutdown or Close began
	v            int
	err          error
	attempts     int
	resolvedOnce bool
}

// kcRound is a round in progress.
type kcRound struct {
	t        *testing.T
	cfg      *kcConfig
	s        *scheduler.Scheduler
	closing  atomic.Bool  // Shutdown or Close has been called
	closed   atomic.Bool  // Shutdown or Close has returned
	gate     sync.RWMutex // PauseKey calls hold it shared, the closer exclusively
	rateMu   sync.RWMutex // SetKeyRate calls hold it exclusively, probes shared
	groupCtx []context.Context
	groupErr []error
	groupEnd []atomic.Bool
	errs     atomic.Int32
	t0       time.Time // the round's start

	mu          sync.Mutex
	running     int
	runningKey  map[string]int
	starts      map[string][]time.Time
	pauses      map[string][]kcPause
	rateChanged map[string]bool // SetKeyRate during the round
	hints       int             // keyed attempts that returned a hint > 0
	pauseCalls  int             // PauseKey calls before Shutdown or Close
	peak        int
}

type kcPause struct {
	from, until time.Time
	what        string
}

// errorf reports a failure, at most 20 per round.
func (r *kcRound) errorf(format string, args ...any) {
	r.t.Helper()
	if n := r.errs.Add(1); n <= 20 {
		r.t.Errorf(format, args...)
	} else if n == 21 {
		r.t.Errorf("more failures not shown")
	}
}

// kcSeeds is the number of rounds (2,000 pass; 200 take about 2s with
// -race).
const kcSeeds = 200

func TestChaosKeys(t *testing.T) {
	for seed := uint64(1); seed <= kcSeeds; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				kcRun(t, kcPlan(seed))
			})
		})
	}
}

// kcPlan draws a round from seed.
func kcPlan(seed uint64) *kcConfig {
	rng := rand.New(rand.NewPCG(seed, 0x6b657973))
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	rates := []float64{20, 100, 500, 2000}
	cfg := &kcConfig{
		workers:  1 + rng.IntN(8),
		keyLimit: rng.IntN(4),
		queue:    []int{4, 16, 64, 10_000}[rng.IntN(4)],
		rateMode: rng.IntN(3),
		rate:     rates[rng.IntN(len(rates))],
		burst:    1 + rng.IntN(3),
		budget:   rng.IntN(4) == 0,
		grace:    []time.Duration{0, 10 * time.Millisecond, -1}[rng.IntN(3)],
		observe:  rng.IntN(2) == 0,
		preset:   map[string]kcRate{},
		closeAt:  ms(150),
		useClose: rng.IntN(2) == 0,
	}
	cfg.shutdownWait = ms(60)
	for k := range 2 + rng.IntN(3) {
		key := fmt.Sprint("k", k)
		cfg.keys = append(cfg.keys, key)
		if rng.IntN(4) == 0 {
			cfg.preset[key] = kcRate{rates[rng.IntN(len(rates))], 1 + rng.IntN(3)}
		}
	}
	for range 1 + rng.IntN(3) {
		at := ms(120)
		if rng.IntN(4) == 0 {
			at = -1
		}
		cfg.groupCancelAt = append(cfg.groupCancelAt, at)
	}
	for range rng.IntN(12) {
		a := kcAction{at: ms(150), what: rng.IntN(3), key: cfg.keys[rng.IntN(len(cfg.keys))]}
		a.d = time.Duration(1+rng.IntN(30)) * time.Millisecond
		a.rate = kcRate{rates[rng.IntN(len(rates))], 1 + rng.IntN(3)}
		cfg.actions = append(cfg.actions, a)
	}
	policies := map[[2]int]*job.Policy{}
	id := 0
	for range 2 + rng.IntN(4) {
		var list []*kcJob
		for range 10 + rng.IntN(30) {
			j := &kcJob{id: id, group: -1, cancelAt: -1}
			id++
			if rng.IntN(4) > 0 {
				j.key = cfg.keys[rng.IntN(len(cfg.keys))]
			}
			switch x := rng.IntN(100); {
			case x < 30:
				j.kind = kcSucceed
			case x < 50:
				j.kind = kcFlaky
			case x < 60:
				j.kind = kcFail
			case x < 72:
				j.kind = kcHint
			case x < 82:
				j.kind = kcThrottle
			case x < 94:
				j.kind = kcBlock
			default:
				j.kind = kcPermanent
			}
			j.fails = 1 + rng.IntN(3)
			j.hint = time.Duration(1+rng.IntN(20)) * time.Millisecond
			if rng.IntN(4) == 0 {
				j.delay = time.Duration(1+rng.IntN(3)) * time.Millisecond
			}
			j.maxAttempts = 3 + 2*rng.IntN(2)
			w := 1 + rng.IntN(3)
			if policies[[2]int{w, j.maxAttempts}] == nil {
				policies[[2]int{w, j.maxAttempts}] = constant(time.Duration(w)*time.Millisecond, job.MaxAttempts(j.maxAttempts))
			}
			j.policy = policies[[2]int{w, j.maxAttempts}]
			switch x := rng.IntN(10); {
			case x >= 8:
				j.deadline = time.Duration(5+rng.IntN(75)) * time.Millisecond
			case x >= 6:
				j.group = rng.IntN(len(cfg.groupCancelAt))
			}
			j.via = rng.IntN(kcVias)
			if j.via != kcDo && rng.IntN(6) == 0 {
				j.cancelAt = ms(50)
			}
			if rng.IntN(4) == 0 {
				j.gap = ms(10)
			}
			list = append(list, j)
		}
		cfg.submitters = append(cfg.submitters, list)
	}
	return cfg
}

func (cfg *kcConfig) String() string {
	rate := "none"
	switch cfg.rateMode {
	case 1:
		rate = fmt.Sprintf("fixed %v/s burst %d", cfg.rate, cfg.burst)
	case 2:
		rate = "adaptive"
	}
	end := fmt.Sprintf("Shutdown(%v)", cfg.shutdownWait)
	if cfg.useClose {
		end = "Close"
	}
	n := 0
	for _, l := range cfg.submitters {
		n += len(l)
	}
	return fmt.Sprintf("workers %d, key limit %d, queue %d, rate %s, preset %v, budget %v, grace %v, observer %v, keys %d, groups %v, %d actions, %d jobs from %d goroutines, %s at %v",
		cfg.workers, cfg.keyLimit, cfg.queue, rate, cfg.preset, cfg.budget, cfg.grace, cfg.observe, len(cfg.keys), cfg.groupCancelAt, len(cfg.actions), n, len(cfg.submitters), end, cfg.closeAt)
}

// kcRun runs a round in the current bubble and checks it.
func kcRun(t *testing.T, cfg *kcConfig) {
	t.Logf("round: %v", cfg)
	opts := []scheduler.Option{scheduler.WithWorkers(cfg.workers), scheduler.WithKeyLimit(cfg.keyLimit),
		scheduler.WithQueueSize(cfg.queue), scheduler.WithRand(uint64(cfg.workers))}
	switch cfg.rateMode {
	case 1:
		opts = append(opts, scheduler.WithKeyRate(cfg.rate, cfg.burst))
	case 2:
		opts = append(opts, scheduler.WithAdaptiveKeyRate())
	}
	if cfg.budget {
		opts = append(opts, scheduler.WithRetryBudget(scheduler.Budget{Ratio: 0.2, MinPerSecond: 50}))
	}
	if cfg.grace >= 0 {
		opts = append(opts, scheduler.WithGrace(cfg.grace))
	}
	s := scheduler.New(opts...)
	r := &kcRound{t: t, cfg: cfg, s: s, t0: time.Now(), runningKey: map[string]int{}, starts: map[string][]time.Time{},
		pauses: map[string][]kcPause{}, rateChanged: map[string]bool{}}
	var obs *kcObserver
	if cfg.observe {
		obs = &kcObserver{submitted: map[int]int{}, ended: map[int]int{}, started: map[int]int{}}
		s.Observe(obs)
	}
	for k, rt := range cfg.preset {
		s.SetKeyRate(k, rt.perSecond, rt.burst)
	}
	r.groupEnd = make([]atomic.Bool, len(cfg.groupCancelAt))
	var cancels []context.CancelCauseFunc
	for g, at := range cfg.groupCancelAt {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancels = append(cancels, cancel)
		r.groupCtx = append(r.groupCtx, ctx)
		cause := fmt.Errorf("chaos: group %d canceled", g)
		r.groupErr = append(r.groupErr, cause)
		if at >= 0 {
			go func() {
				time.Sleep(at)
				r.groupEnd[g].Store(true)
				cancel(cause)
			}()
		}
	}
	defer func() {
		for _, c := range cancels {
			c(nil)
		}
	}()

	var chaos sync.WaitGroup
	for _, a := range cfg.actions {
		chaos.Go(func() {
			time.Sleep(a.at)
			r.act(a)
		})
	}
	var shutdownErr error
	chaos.Go(func() {
		time.Sleep(cfg.closeAt)
		r.gate.Lock()
		r.closing.Store(true)
		r.gate.Unlock()
		if cfg.useClose {
			shutdownErr = s.Close()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownWait)
			shutdownErr = s.Shutdown(ctx)
			cancel()
		}
		r.closed.Store(true)
	})
	var subs, waiters sync.WaitGroup
	for _, list := range cfg.submitters {
		subs.Go(func() {
			for _, j := range list {
				time.Sleep(j.gap)
				r.submit(j, &waiters)
			}
		})
	}
	subs.Wait()
	chaos.Wait()
	waiters.Wait()
	// Attempts abandoned by Close end when their operation returns: give
	// them (fake) time, then check.
	time.Sleep(time.Second)
	synctest.Wait()
	r.check(shutdownErr, obs)
}

// submit submits j as its plan says and arranges for its outcome to be
// recorded.
func (r *kcRound) submit(j *kcJob, waiters *sync.WaitGroup) {
	s := r.s
	ctx := context.Background()
	var cancel context.CancelFunc = func() {}
	switch {
	case j.group >= 0:
		ctx = r.groupCtx[j.group]
	case j.deadline > 0:
		ctx, cancel = context.WithTimeout(ctx, j.deadline)
		j.dl, _ = ctx.Deadline()
	}
	ctx = context.WithValue(ctx, kcIDKey{}, j.id)
	opts := []job.Option{j.policy}
	if j.key != "" {
		opts = append(opts, job.Key(j.key))
	}
	op := r.op(j)
	j.afterClosed = r.closed.Load()
	var f *job.Future[int]
	var g *job.Future[struct{}]
	switch j.via {
	case kcSubmit:
		f = scheduler.Submit(s, ctx, op, opts...)
	case kcTrySubmit:
		f, j.tryErr = scheduler.TrySubmit(s, ctx, op, opts...)
		if (f == nil) == (j.tryErr == nil) {
			r.errorf("job %d: TrySubmit = %v, %v; want a future or an error", j.id, f, j.tryErr)
		}
		if f == nil {
			cancel()
			return
		}
	case kcGo:
		g = s.Go(ctx, func(ctx context.Context) error { _, err := op(ctx); return err }, opts...)
	case kcDo:
		j.accepted = true
		j.v, j.err = scheduler.Do(s, ctx, op, opts...)
		cancel()
		j.beforeClose = !r.closing.Load()
		j.attempts = -1 // Do has no future: its error says
		j.resolvedOnce = true
		return
	}
	j.accepted = true
	done := func() <-chan struct{} {
		if g != nil {
			return g.Done()
		}
		return f.Done()
	}
	if j.afterClosed && !isDone(done()) {
		r.errorf("job %d (%s after Shutdown/Close returned): future not resolved at once", j.id, kcViaNames[j.via])
	}
	if j.cancelAt >= 0 {
		waiters.Go(func() {
			time.Sleep(j.cancelAt)
			j.cancelCalled.Store(true)
			if g != nil {
				g.Cancel()
			} else {
				f.Cancel()
			}
		})
	}
	waiters.Go(func() {
		<-done()
		j.beforeClose = !r.closing.Load()
		defer cancel()
		if g != nil {
			_, err := g.Wait(context.Background())
			_, err2 := g.Wait(context.Background())
			j.v, j.err, j.attempts, j.resolvedOnce = j.id, err, g.Attempts(), err == err2
			if err != nil {
				j.v = 0
			}
			return
		}
		v, err := f.Wait(context.Background())
		v2, err2 := f.Wait(context.Background())
		j.v, j.err, j.attempts, j.resolvedOnce = v, err, f.Attempts(), v == v2 && err == err2
	})
}

// op returns j's operation, which records each attempt's start and checks
// the limits as it starts.
func (r *kcRound) op(j *kcJob) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		n := int(j.calls.Add(1))
		if a := job.AttemptFrom(ctx); a != n {
			r.errorf("job %d: AttemptFrom = %d in its call %d", j.id, a, n)
		}
		now := time.Now()
		if !j.dl.IsZero() && !now.Before(j.dl) {
			r.errorf("job %d: attempt %d started %v after its deadline", j.id, n, now.Sub(j.dl))
		}
		r.enter(j, now)
		defer r.leave(j)
		if j.delay > 0 && j.kind != kcBlock {
			time.Sleep(j.delay)
		}
		switch j.kind {
		case kcBlock:
			<-ctx.Done()
			return 0, ctx.Err()
		case kcFail:
			return 0, errBoom
		case kcPermanent:
			return 0, job.Permanent(errBoom)
		case kcFlaky, kcHint, kcThrottle:
			if n <= j.fails {
				if j.kind == kcThrottle {
					return 0, job.Throttled(errBoom)
				}
				if j.kind == kcHint {
					r.hinted(j, n)
					return 0, job.RetryAfter(errBoom, j.hint)
				}
				return 0, errBoom
			}
		}
		j.opOK.Store(true)
		return j.id, nil
	}
}

// enter records an attempt starting now and checks the bounds on attempts
// running at once.
func (r *kcRound) enter(j *kcJob, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running++
	r.peak = max(r.peak, r.running)
	if r.running > r.cfg.workers {
		r.errorf("job %d: %d attempts running at once with WithWorkers(%d)", j.id, r.running, r.cfg.workers)
	}
	if j.key == "" {
		return
	}
	r.runningKey[j.key]++
	if n := r.runningKey[j.key]; r.cfg.keyLimit > 0 && n > r.cfg.keyLimit {
		r.errorf("job %d: %d attempts of key %s running at once with WithKeyLimit(%d)", j.id, n, j.key, r.cfg.keyLimit)
	}
	r.starts[j.key] = append(r.starts[j.key], now)
}

func (r *kcRound) leave(j *kcJob) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if j.key != "" {
		r.runningKey[j.key]--
	}
}

// hinted records the pause that attempt n of j's hint starts now.
func (r *kcRound) hinted(j *kcJob, n int) {
	if j.key == "" {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hints++
	r.pauses[j.key] = append(r.pauses[j.key], kcPause{now, now.Add(j.hint), fmt.Sprintf("job %d attempt %d's hint of %v", j.id, n, j.hint)})
}

// act makes a call of the round's chaos from outside the jobs.
func (r *kcRound) act(a kcAction) {
	s := r.s
	switch a.what {
	case 0:
		r.gate.RLock() // counted only while Shutdown and Close have not begun
		defer r.gate.RUnlock()
		if r.closing.Load() {
			return
		}
		now := time.Now()
		s.PauseKey(a.key, a.d)
		r.mu.Lock()
		r.pauseCalls++
		r.pauses[a.key] = append(r.pauses[a.key], kcPause{now, now.Add(a.d), fmt.Sprintf("PauseKey(%s, %v)", a.key, a.d)})
		r.mu.Unlock()
	case 1:
		r.rateMu.Lock() // a probe sees the rate and whether it changed together
		defer r.rateMu.Unlock()
		r.mu.Lock()
		r.rateChanged[a.key] = true
		r.mu.Unlock()
		s.SetKeyRate(a.key, a.rate.perSecond, a.rate.burst)
	case 2:
		st := s.Stats()
		if st.Running > r.cfg.workers || min(st.Queued, st.Running, st.Parked, st.Waiting, st.Paced, st.PausedKeys, st.Keys) < 0 {
			r.errorf("Stats() mid-run = %+v: want counts >= 0 and Running <= %d", st, r.cfg.workers)
		}
		if st.Keys > len(r.cfg.keys) || st.PausedKeys > st.Keys {
			r.errorf("Stats() mid-run = %+v: want PausedKeys <= Keys <= %d keys in use", st, len(r.cfg.keys))
		}
		if r.cfg.keyLimit == 0 && st.Waiting != 0 {
			r.errorf("Stats() mid-run = %+v: jobs waiting for a key slot without WithKeyLimit", st)
		}
		r.rateMu.RLock()
		defer r.rateMu.RUnlock()
		for _, k := range r.cfg.keys {
			r.mu.Lock()
			changed := r.rateChanged[k]
			r.mu.Unlock()
			ks, ok := s.KeyStats(k)
			if !ok {
				continue
			}
			if min(ks.Running, ks.Waiting, ks.Paced) < 0 || (r.cfg.keyLimit > 0 && ks.Running > r.cfg.keyLimit) {
				r.errorf("KeyStats(%s) mid-run = %+v: want counts >= 0 and Running <= %d", k, ks, r.cfg.keyLimit)
			}
			if want, fixed := r.fixedRate(k, changed); fixed && ks.Rate != want.perSecond {
				r.errorf("KeyStats(%s).Rate = %v, want its fixed rate %v", k, ks.Rate, want.perSecond)
			}
			if _, preset := r.cfg.preset[k]; r.cfg.rateMode == 0 && !preset && !changed && (ks.Rate != 0 || ks.Paced != 0) {
				r.errorf("KeyStats(%s) = %+v: a key without a rate is paced", k, ks)
			}
		}
	}
}

// fixedRate returns key k's rate when it had one fixed rate all round.
func (r *kcRound) fixedRate(k string, changed bool) (kcRate, bool) {
	if changed {
		return kcRate{}, false
	}
	if rt, ok := r.cfg.preset[k]; ok {
		return rt, true
	}
	if r.cfg.rateMode == 1 {
		return kcRate{r.cfg.rate, r.cfg.burst}, true
	}
	return kcRate{}, false
}

// check checks the round once everything has ended.
func (r *kcRound) check(shutdownErr error, obs *kcObserver) {
	t, s, cfg := r.t, r.s, r.cfg
	if cfg.useClose && shutdownErr != nil || !cfg.useClose && shutdownErr != nil && shutdownErr != context.DeadlineExceeded {
		r.errorf("Shutdown/Close = %v, want nil or context.DeadlineExceeded", shutdownErr)
	}
	var submitted, succeeded, gaveUp, canceled, budget, abandoned, closedRan uint64
	for _, list := range cfg.submitters {
		for _, j := range list {
			class := r.checkJob(j)
			if !j.accepted {
				continue
			}
			submitted++
			switch class {
			case "success":
				succeeded++
			case "gave up":
				gaveUp++
			case "canceled":
				canceled++
			}
			if je := (*job.Error)(nil); errors.As(j.err, &je) {
				if je.Reason == job.ErrBudget {
					budget++
				}
				if errors.Is(j.err, scheduler.ErrAbandoned) {
					abandoned++
				}
				if je.Reason == job.ErrClosed && je.Attempts > 0 {
					closedRan++
				}
			}
		}
	}
	if shutdownErr == nil && !cfg.useClose && closedRan > 0 {
		r.errorf("Shutdown returned nil (every job ran to its end), but %d jobs that made attempts ended with job.ErrClosed", closedRan)
	}

	st := checkEnded(t, s)
	if st.Paced != 0 || st.PausedKeys > st.Keys {
		r.errorf("Stats() after the end = %+v: want Paced 0, PausedKeys <= Keys", st)
	}
	if st.Submitted != submitted || st.Succeeded != succeeded || st.GaveUp != gaveUp || st.Canceled != canceled {
		r.errorf("Stats() = Submitted %d, Succeeded %d, GaveUp %d, Canceled %d; the outcomes say %d, %d, %d, %d",
			st.Submitted, st.Succeeded, st.GaveUp, st.Canceled, submitted, succeeded, gaveUp, canceled)
	}
	if st.BudgetDenied != budget || st.Abandoned != abandoned {
		r.errorf("Stats() = BudgetDenied %d, Abandoned %d; the outcomes say %d, %d", st.BudgetDenied, st.Abandoned, budget, abandoned)
	}
	if cfg.grace != 0 && abandoned != 0 {
		r.errorf("%d attempts abandoned with a grace of %v, longer than any attempt ignores its context", abandoned, cfg.grace)
	}
	r.mu.Lock()
	hints, pauseCalls := uint64(r.hints), uint64(r.pauseCalls)
	r.mu.Unlock()
	if (cfg.grace != 0 && st.Pauses != hints+pauseCalls) || st.Pauses < pauseCalls || st.Pauses > hints+pauseCalls {
		r.errorf("Stats().Pauses = %d; want the %d keyed hints + %d PauseKey calls (fewer hints only if abandoned)", st.Pauses, hints, pauseCalls)
	}

	// After Close, a key is kept only while it has something to keep: a
	// pause not over, or a rate whose bucket still refills.
	kept := 0
	for _, k := range cfg.keys {
		ks, ok := s.KeyStats(k)
		if !ok {
			continue
		}
		kept++
		if ks.Running != 0 || ks.Waiting != 0 || ks.Paced != 0 {
			r.errorf("KeyStats(%s) after the end = %+v: want nothing running, waiting or paced", k, ks)
		}
		if ks.Paused == 0 && ks.Rate == 0 {
			r.errorf("KeyStats(%s) after the end = %+v: an idle key with no pause and no rate is kept", k, ks)
		}
	}
	if after := s.Stats(); after.Keys != kept || st.Keys < kept {
		r.errorf("Stats().Keys after the end = %d, then %d; KeyStats reports %d keys kept", st.Keys, after.Keys, kept)
	}

	r.checkPauses()
	r.checkRates()
	if obs != nil {
		obs.check(r)
	}
	t.Logf("stats %+v; peak %d attempts at once", st, r.peak)
}

// checkJob checks j's outcome and classifies it as Stats does: "success",
// "gave up" or "canceled" ("" when not submitted).
func (r *kcRound) checkJob(j *kcJob) string {
	what := fmt.Sprintf("job %d (%s, %s, key %q, group %d, deadline %v, cancel at %v)", j.id, kcKindNames[j.kind], kcViaNames[j.via], j.key, j.group, j.deadline, j.cancelAt)
	calls := int(j.calls.Load())
	if !j.accepted {
		if j.tryErr != scheduler.ErrQueueFull && j.tryErr != job.ErrClosed {
			r.errorf("%s: TrySubmit refused it with %v, want ErrQueueFull or job.ErrClosed", what, j.tryErr)
		}
		if j.afterClosed && j.tryErr != job.ErrClosed {
			r.errorf("%s: TrySubmit after Shutdown/Close = %v, want job.ErrClosed", what, j.tryErr)
		}
		if calls != 0 {
			r.errorf("%s: refused, but its operation ran %d times", what, calls)
		}
		return ""
	}
	if !j.resolvedOnce {
		r.errorf("%s: its future's result changed between two Waits", what)
	}
	if j.err == nil {
		if !j.opOK.Load() || j.v != j.id {
			r.errorf("%s: resolved %d, nil without a successful attempt (op succeeded %v; calls %d)", what, j.v, j.opOK.Load(), calls)
		}
		if j.attempts >= 0 && j.attempts != calls {
			r.errorf("%s: succeeded with Attempts() = %d after %d calls", what, j.attempts, calls)
		}
		if j.afterClosed {
			r.errorf("%s: submitted after Shutdown/Close returned, yet succeeded", what)
		}
		return "success"
	}
	var je *job.Error
	if !errors.As(j.err, &je) {
		r.errorf("%s: err %v (%T), want a *job.Error", what, j.err, j.err)
		return ""
	}
	abandoned := errors.Is(j.err, scheduler.ErrAbandoned)
	if je.Attempts != calls || (j.attempts >= 0 && j.attempts != calls) {
		r.errorf("%s: %v: Attempts %d (future %d) after %d calls of its operation", what, j.err, je.Attempts, j.attempts, calls)
	}
	if (je.Attempts == 0) != (je.Last == nil) && !abandoned {
		r.errorf("%s: %v: Attempts %d with Last %v", what, j.err, je.Attempts, je.Last)
	}
	if j.opOK.Load() && !abandoned {
		r.errorf("%s: its operation succeeded, but the job failed: %v", what, j.err)
	}
	if abandoned && je.Reason != job.ErrClosed {
		r.errorf("%s: abandoned with Reason %v, want job.ErrClosed (nothing else abandons here)", what, je.Reason)
	}
	if j.afterClosed && (je.Reason != job.ErrClosed || calls != 0) {
		r.errorf("%s: submitted after Shutdown/Close returned: %v after %d calls, want job.ErrClosed and none", what, j.err, calls)
	}
	if !errors.Is(j.err, je.Reason) {
		r.errorf("%s: errors.Is(err, its Reason %v) is false", what, je.Reason)
	}
	retryable := j.kind == kcFail || j.kind == kcFlaky || j.kind == kcHint || j.kind == kcThrottle
	var why string
	switch reason := je.Reason; {
	case reason == job.ErrClosed:
		if j.beforeClose {
			why = "resolved before Shutdown/Close began"
		}
		return r.classed(what, why, j.err, "canceled")
	case reason == context.Canceled:
		if !j.cancelCalled.Load() {
			why = "Future.Cancel was not called"
		}
		return r.classed(what, why, j.err, "canceled")
	case reason == context.DeadlineExceeded:
		if j.deadline == 0 {
			why = "it has no deadline"
		}
		return r.classed(what, why, j.err, "canceled")
	case reason == job.ErrDeadline:
		if j.deadline == 0 {
			why = "it has no deadline"
		}
		return r.classed(what, why, j.err, "gave up")
	case reason == job.ErrExhausted:
		if !retryable || je.Attempts != j.maxAttempts {
			why = fmt.Sprintf("not a retryable failure after MaxAttempts(%d)", j.maxAttempts)
		}
		return r.classed(what, why, j.err, "gave up")
	case reason == job.ErrPermanent:
		if j.kind != kcPermanent {
			why = "its operation never failed permanently"
		}
		return r.classed(what, why, j.err, "gave up")
	case reason == job.ErrBudget:
		if !r.cfg.budget || !retryable || calls == 0 {
			why = "no budget, or nothing to retry"
		}
		return r.classed(what, why, j.err, "gave up")
	case j.group >= 0 && reason == r.groupErr[j.group]:
		if !r.groupEnd[j.group].Load() {
			why = "its group was not canceled"
		}
		return r.classed(what, why, j.err, "canceled")
	}
	r.errorf("%s: unexpected Reason %v: %v", what, je.Reason, j.err)
	return ""
}

// classed reports a Reason that nothing in the round explains, and returns
// class.
func (r *kcRound) classed(what, why string, err error, class string) string {
	if why != "" {
		r.errorf("%s: %v: Reason unexplained: %s", what, err, why)
	}
	return class
}

// checkPauses checks that no attempt of a key started while the key was
// paused by an earlier hint or PauseKey. Attempts at the instant a pause
// began are not checked: they may have passed their key's gate first.
func (r *kcRound) checkPauses() {
	for k, ps := range r.pauses {
		for _, start := range r.starts[k] {
			for _, p := range ps {
				if p.from.Before(start) && start.Before(p.until) {
					r.errorf("key %s: an attempt started %v after %s began, %v before it ended",
						k, start.Sub(p.from), p.what, p.until.Sub(start))
					break
				}
			}
		}
	}
}

// checkRates checks that the attempts of each key with one fixed rate all
// round conform to its token bucket: starting full with burst tokens,
// refilled at the rate, one token per attempt, at the attempt's start (a
// job waiting for a worker or a slot holds none).
func (r *kcRound) checkRates() {
	for _, k := range r.cfg.keys {
		rt, ok := r.fixedRate(k, r.rateChanged[k])
		starts := r.starts[k]
		if !ok || len(starts) == 0 {
			continue
		}
		// However long a job waits between its token and its start, the
		// first n attempts took n tokens by the n-th start.
		for i, at := range starts {
			if allowed := float64(rt.burst) + at.Sub(r.t0).Seconds()*rt.perSecond; float64(i+1) > allowed+1e-6 {
				r.errorf("key %s (%v/s, burst %d): %d attempts started in the round's first %v, more than the %.2f tokens it had",
					k, rt.perSecond, rt.burst, i+1, at.Sub(r.t0), allowed)
				break
			}
		}
		tokens, last := float64(rt.burst), starts[0]
		for i, at := range starts {
			tokens = min(float64(rt.burst), tokens+at.Sub(last).Seconds()*rt.perSecond)
			last = at
			if tokens--; tokens < -1e-6 {
				var offs []time.Duration
				for _, s := range starts {
					offs = append(offs, s.Sub(r.t0))
				}
				r.errorf("key %s (%v/s, burst %d): attempt %d of %d started %v after the first with its bucket at %.3f tokens (starts: %v)",
					k, rt.perSecond, rt.burst, i+1, len(starts), at.Sub(starts[0]), tokens, offs)
				break
			}
		}
	}
}

// kcObserver counts every job's events by the index in its context.
type kcObserver struct {
	mu                        sync.Mutex
	submitted, ended, started map[int]int
	paused, stopped, unknown  int
}

func (o *kcObserver) StartAttempt(ctx context.Context, key string, attempt int) context.Context {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id, ok := ctx.Value(kcIDKey{}).(int); ok {
		o.started[id]++
	} else {
		o.unknown++
	}
	return ctx
}

func (o *kcObserver) Observe(ctx context.Context, e scheduler.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch e.Kind {
	case scheduler.KeyPaused:
		o.paused++
		return
	case scheduler.Stopped:
		o.stopped++
		return
	case scheduler.AttemptEnded:
		return
	}
	id, ok := ctx.Value(kcIDKey{}).(int)
	if !ok {
		o.unknown++
		return
	}
	switch e.Kind {
	case scheduler.JobSubmitted:
		o.submitted[id]++
	case scheduler.JobEnded:
		o.ended[id]++
	}
}

// check checks that each job was seen submitted and ended at most once, and
// exactly once when it ended before Shutdown or Close began (the observer
// hears nothing once the scheduler has stopped).
func (o *kcObserver) check(r *kcRound) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.unknown != 0 || o.stopped != 1 {
		r.errorf("observer: %d events of unknown jobs, %d Stopped events; want 0, 1", o.unknown, o.stopped)
	}
	if st := r.s.Stats(); uint64(o.paused) != st.Pauses {
		r.errorf("observer: %d KeyPaused events, Stats().Pauses = %d", o.paused, st.Pauses)
	}
	for _, list := range r.cfg.submitters {
		for _, j := range list {
			sub, end, att := o.submitted[j.id], o.ended[j.id], o.started[j.id]
			want := 0
			if j.accepted {
				want = 1
			}
			if sub > want || end > want || (j.accepted && j.beforeClose && (sub != 1 || end != 1)) {
				r.errorf("observer: job %d (accepted %v, resolved before Shutdown/Close %v): JobSubmitted %d times, JobEnded %d times",
					j.id, j.accepted, j.beforeClose, sub, end)
			}
			if calls := int(j.calls.Load()); att > calls || (r.cfg.grace != 0 && att != calls) {
				r.errorf("observer: job %d: StartAttempt %d times for %d calls of its operation", j.id, att, calls)
			}
		}
	}
}

// A token is the right to start an attempt, not to wait for a worker: with
// the only worker busy for a second, the jobs of a key paced at 10/s with a
// burst of 1 still start 100ms apart once it frees, not all at once
// (WithKeyRate: bursts of up to burst). (They used to start all at once:
// a token was taken as it fell due, by a job that then waited for the
// worker.)
func TestKeyRateBurstAfterBusyWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(1), scheduler.WithKeyRate(10, 1))
		defer s.Close()
		t0 := time.Now()
		var mu sync.Mutex
		var starts []time.Duration
		op := func(context.Context) (int, error) {
			mu.Lock()
			starts = append(starts, time.Since(t0))
			mu.Unlock()
			return 1, nil
		}
		var fs []*job.Future[int]
		for range 4 {
			fs = append(fs, scheduler.Submit(s, context.Background(), op, job.Key("a")))
		}
		synctest.Wait() // the first has run; one waits on the heap for its token, two in line
		busy := scheduler.Submit(s, context.Background(), func(context.Context) (int, error) {
			time.Sleep(time.Second) // holds the only worker
			return 0, nil
		})
		for _, f := range append(fs, busy) {
			if _, err := await(t, f); err != nil {
				t.Fatal(err)
			}
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i] - starts[i-1]; gap < 100*time.Millisecond {
				t.Errorf("attempts of key a started at %v: %v apart, want >= 100ms at 10/s with a burst of 1", starts, gap)
				break
			}
		}
	})
}

// A job in its key's line whose token, at the key's rate of that moment,
// would come after its deadline ends by its deadline and leaves the paced
// jobs once: Stats and KeyStats show none paced after. Here the key's rate
// drops while the job waits in line. (Stats().Paced used to go negative:
// the job was uncounted twice.)
func TestKeyRateLineJobOutlastsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithKeyRate(1, 1))
		defer s.Close()
		op := func(context.Context) (int, error) { return 1, nil }
		first := scheduler.Submit(s, context.Background(), op, job.Key("a")) // takes the token
		if _, err := first.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		head := scheduler.Submit(s, context.Background(), op, job.Key("a")) // on the heap, its token due at 1s
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		inLine := scheduler.Submit(s, ctx, op, job.Key("a")) // behind it, due at about 2s
		synctest.Wait()
		if st := s.Stats(); st.Paced != 2 {
			t.Fatalf("Stats().Paced = %d, want 2", st.Paced)
		}
		s.SetKeyRate("a", 0.1, 1) // its token now comes after its deadline
		if _, err := inLine.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) && jobError(t, err).Reason != job.ErrDeadline {
			t.Fatalf("the job in line: %v, want its deadline's end", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the job in line ended %v after it was submitted, want by its 3s deadline", d)
		}
		if _, err := head.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := checkEnded(t, s)
		if st.Paced != 0 {
			t.Errorf("Stats() = %+v: want Paced 0", st)
		}
		if ks, ok := s.KeyStats("a"); ok && ks.Paced != 0 {
			t.Errorf("KeyStats(a) = %+v: want Paced 0", ks)
		}
	})
}
