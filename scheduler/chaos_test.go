package scheduler_test

// The chaos run: many jobs with random outcomes, random cancellations and a
// Shutdown with a short deadline in the middle, on the real clock with tiny
// waits. Whatever happens, every future resolves exactly once, hooks fire at
// most once per event, Stats add up and no goroutine is left.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// chaosKind is what a chaos job's operation does.
type chaosKind int

const (
	chaosSuccess   chaosKind = iota // succeeds at once
	chaosFlaky                      // fails 1-3 times, then succeeds
	chaosPermanent                  // fails with a Permanent error
	chaosPanic                      // panics
	chaosHung                       // first attempt hangs until its AttemptTimeout, then succeeds
	chaosHinted                     // first attempt returns a Retry-After hint (on a random key), then succeeds
	chaosExhaust                    // always fails; MaxAttempts(3)
	chaosIgnoreCtx                  // first attempt ignores its ctx and hangs until the test ends: abandoned
	chaosKinds
)

var chaosKindNames = [chaosKinds]string{"success", "flaky", "permanent", "panic", "hung", "hinted", "exhaust", "ignore-ctx"}

// chaosPick draws a job kind: mostly jobs that can succeed, a few of every
// fault, very few that ignore their context.
func chaosPick(r *rand.Rand) chaosKind {
	switch x := r.IntN(1000); {
	case x < 300:
		return chaosSuccess
	case x < 550:
		return chaosFlaky
	case x < 630:
		return chaosPermanent
	case x < 700:
		return chaosPanic
	case x < 780:
		return chaosHung
	case x < 900:
		return chaosHinted
	case x < 997:
		return chaosExhaust
	default:
		return chaosIgnoreCtx
	}
}

// chaosJob is one job's plan and what was observed of it.
type chaosJob struct {
	kind      chaosKind
	failures  int32
	key       string
	group     int  // >= 0: the job's ctx is the shared context of this group
	ownCancel bool // the job's own ctx is canceled at a random time
	cancel    bool // Future.Cancel is called at a random time
	viaMap    bool

	attempts, retries, successes, giveUps atomic.Int32

	// The future: f, or g for a job submitted with s.Go.
	f         *job.Future[int]
	g         *job.Future[struct{}]
	queueFull bool // TrySubmit said ErrQueueFull (then Submit was used)
}

func (j *chaosJob) done() <-chan struct{} {
	if j.g != nil {
		return j.g.Done()
	}
	return j.f.Done()
}

// result returns the job's outcome; for a job submitted with s.Go, the value
// is the one the operation would have returned on success.
func (j *chaosJob) result(i int) (int, error) {
	if j.g != nil {
		_, err := j.g.Wait(context.Background())
		if err == nil {
			return i, nil
		}
		return 0, err
	}
	return j.f.Wait(context.Background())
}

func (j *chaosJob) cancelFuture() {
	if j.g != nil {
		j.g.Cancel()
	} else {
		j.f.Cancel()
	}
}

var errChaos = errors.New("chaos: transient")

// chaosKeyLimit is the chaos run's WithKeyLimit: keyed jobs wait for
// slots, and attempts are abandoned while jobs of their key wait (what
// TestFaultAbandonWithWaitingKeyJobs checks alone).
const chaosKeyLimit = 4

func (j *chaosJob) op(i int, release <-chan struct{}) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		n := j.attempts.Add(1)
		switch j.kind {
		case chaosFlaky:
			if n <= j.failures {
				return 0, errChaos
			}
		case chaosPermanent:
			return 0, job.Permanent(errChaos)
		case chaosPanic:
			panic(fmt.Sprintf("chaos panic in job %d", i))
		case chaosHung:
			if n == 1 {
				<-ctx.Done()
				return 0, ctx.Err()
			}
		case chaosHinted:
			if n == 1 {
				return 0, job.RetryAfter(errChaos, time.Duration(1+i%3)*time.Millisecond)
			}
		case chaosExhaust:
			return 0, errChaos
		case chaosIgnoreCtx:
			if n == 1 {
				<-release
				return 0, errChaos
			}
		}
		return i, nil
	}
}

func TestStressChaos(t *testing.T) {
	n := scale(100_000, 5_000)
	const (
		workers   = 16
		queue     = 256
		grace     = 5 * time.Millisecond
		groups    = 4
		keys      = 16
		timeout   = 2 * time.Millisecond
		submitter = 8
	)
	ignore := goleak.IgnoreCurrent()
	rng := rand.New(rand.NewPCG(20261127, uint64(n)))
	s := scheduler.New(scheduler.WithWorkers(workers), scheduler.WithQueueSize(queue),
		scheduler.WithGrace(grace), scheduler.WithKeyLimit(chaosKeyLimit), scheduler.WithRand(7))
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	// The plan.
	jobs := make([]chaosJob, n)
	var kinds [chaosKinds]int
	var nGroup, nOwnCancel, nCancel, nMap, nKeyed int
	mapStart, mapEnd := n/20, n/10 // one Map call covers these
	for i := range jobs {
		j := &jobs[i]
		j.kind = chaosPick(rng)
		j.failures = 1 + rng.Int32N(3)
		j.group = -1
		if rng.IntN(3) == 0 || j.kind == chaosHinted {
			j.key = fmt.Sprintf("host-%d", rng.IntN(keys))
			nKeyed++
		}
		switch x := rng.IntN(100); {
		case x < 5:
			j.group = rng.IntN(groups)
			nGroup++
		case x < 10:
			j.ownCancel = true
			nOwnCancel++
		case x < 15:
			j.cancel = true
			nCancel++
		}
		if i >= mapStart && i < mapEnd {
			j.viaMap, j.cancel = true, false // Map gives no futures to cancel
			nMap++
		}
		kinds[j.kind]++
	}
	groupCause := make([]error, groups)
	groupCtx := make([]context.Context, groups)
	groupCancel := make([]context.CancelCauseFunc, groups)
	for g := range groups {
		groupCause[g] = fmt.Errorf("chaos: group %d canceled", g)
		groupCtx[g], groupCancel[g] = context.WithCancelCause(context.Background())
	}
	policy := job.NewPolicy(job.Wait(wait.Constant(time.Microsecond)), job.Jitter(jitter.Full),
		job.AttemptTimeout(timeout), job.MaxAttempts(5))
	optsOf := func(i int) []job.Option {
		j := &jobs[i]
		opts := []job.Option{policy,
			job.OnRetry(func(job.Event) { j.retries.Add(1) }),
			job.OnSuccess(func(job.Event) { j.successes.Add(1) }),
			job.OnGiveUp(func(job.Event) { j.giveUps.Add(1) }),
		}
		if j.kind == chaosExhaust {
			opts = append(opts, job.MaxAttempts(3))
		}
		if j.key != "" {
			opts = append(opts, job.Key(j.key))
		}
		return opts
	}

	// The chaos: a canceler for futures, group cancellations and a Shutdown
	// with a short deadline once half the jobs are submitted.
	var submitted atomic.Int64
	toCancel := make(chan *chaosJob, n)
	var chaosWG sync.WaitGroup
	chaosWG.Add(1)
	go func() { // Future.Cancel at random times
		defer chaosWG.Done()
		r := rand.New(rand.NewPCG(1, 1))
		for j := range toCancel {
			if r.IntN(4) == 0 { // a random delay, in scheduling slices
				for range r.IntN(200) {
					runtime.Gosched()
				}
			}
			j.cancelFuture()
		}
	}()
	shutdownAt := int64(n / 2)
	progress := make(chan struct{}, 1) // a submission happened since the last look
	shutdownStarted := make(chan struct{})
	var shutdownErr error
	var shutdownTook time.Duration
	chaosWG.Add(1)
	go func() {
		defer chaosWG.Done()
		nextGroup := 0
		for {
			c := submitted.Load()
			for nextGroup < groups && c >= int64(n)*int64(nextGroup+1)/int64(groups+2) {
				groupCancel[nextGroup](groupCause[nextGroup])
				nextGroup++
			}
			if c >= shutdownAt {
				break
			}
			<-progress
		}
		close(shutdownStarted)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		shutdownErr = s.Shutdown(ctx)
		shutdownTook = time.Since(start)
	}()

	// Map covers a slice of the jobs: one result per input, exactly.
	mapIdx := make([]int, 0, mapEnd-mapStart)
	for i := mapStart; i < mapEnd; i++ {
		mapIdx = append(mapIdx, i)
	}
	mapCtx, mapCancel := context.WithCancel(context.Background())
	defer mapCancel()
	mapOut := scheduler.Map(s, mapCtx, mapIdx, func(ctx context.Context, i int) (int, error) {
		return jobs[i].op(i, release)(ctx)
	}, policy)

	// The submitters.
	var ownCancels sync.WaitGroup
	var subWG sync.WaitGroup
	var nTry, nQueueFull, nGo atomic.Int64
	for g := range submitter {
		subWG.Add(1)
		go func() {
			defer subWG.Done()
			r := rand.New(rand.NewPCG(uint64(g), 99))
			for i := g; i < n; i += submitter {
				j := &jobs[i]
				if j.viaMap {
					continue
				}
				ctx := context.Background()
				if j.group >= 0 {
					ctx = groupCtx[j.group]
				} else if j.ownCancel {
					c, cancel := context.WithCancel(context.Background())
					ctx = c
					ownCancels.Add(1)
					d := time.Duration(r.IntN(3000)) * time.Microsecond
					time.AfterFunc(d, func() { defer ownCancels.Done(); cancel() })
				}
				op, opts := j.op(i, release), optsOf(i)
				switch r.IntN(3) {
				case 0:
					j.f = scheduler.Submit(s, ctx, op, opts...)
				case 1:
					nTry.Add(1)
					f, err := scheduler.TrySubmit(s, ctx, op, opts...)
					if errors.Is(err, scheduler.ErrQueueFull) {
						nQueueFull.Add(1)
						j.queueFull = true
						f = scheduler.Submit(s, ctx, op, opts...)
					} else if errors.Is(err, job.ErrClosed) && f == nil {
						// Not accepted (Shutdown has begun): Submit resolves
						// it with ErrClosed and counts it, as the test expects.
						f = scheduler.Submit(s, ctx, op, opts...)
					} else if err != nil {
						t.Errorf("TrySubmit: %v", err)
					}
					j.f = f
				case 2:
					nGo.Add(1)
					j.g = s.Go(ctx, func(ctx context.Context) error { _, err := op(ctx); return err }, opts...)
				}
				if j.f == nil && j.g == nil {
					t.Errorf("job %d: no future", i)
					continue
				}
				if j.cancel {
					toCancel <- j
				}
				submitted.Add(1)
				select {
				case progress <- struct{}{}:
				default: // a wake is pending already
				}
			}
		}()
	}
	// Peak heap, sampled.
	peak, stopSampling := chaosSampleHeap()

	subWG.Wait()
	close(toCancel)
	<-shutdownStarted
	chaosWG.Wait()
	heapPeak := stopSampling()
	// Every future is resolved now: Shutdown has returned, and Submit
	// returns resolved futures once intake has stopped.
	lost := 0
	byReason, abandonedByKind := map[string]int{}, map[string]int{}
	var succeeded, failed int
	for i := range jobs {
		j := &jobs[i]
		if j.viaMap {
			continue
		}
		if !isDone(j.done()) {
			lost++
			continue
		}
		v, err := j.result(i)
		succ, gave, retr, att := j.successes.Load(), j.giveUps.Load(), j.retries.Load(), j.attempts.Load()
		if succ+gave > 1 {
			t.Errorf("job %d (%s): OnSuccess %d + OnGiveUp %d > 1", i, chaosKindNames[j.kind], succ, gave)
		}
		// OnRetry fires once per retry decided: at most once per attempt,
		// and exactly attempts-1 times for a job that ended by its own
		// verdict (a retry decided after the last attempt would have been
		// followed by another attempt, unless the job was canceled).
		if retr > att || (succ+gave == 1 && retr != att-1 && !errors.Is(err, scheduler.ErrAbandoned)) {
			t.Errorf("job %d (%s): OnRetry %d times for %d attempts (OnSuccess %d, OnGiveUp %d, err %v)", i, chaosKindNames[j.kind], retr, att, succ, gave, err)
		}
		if err == nil {
			succeeded++
			byReason["success"]++
			if v != i {
				t.Errorf("job %d: value %d", i, v)
			}
			if succ != 1 || gave != 0 {
				t.Errorf("job %d (%s) succeeded with OnSuccess %d, OnGiveUp %d; want 1, 0", i, chaosKindNames[j.kind], succ, gave)
			}
			switch j.kind {
			case chaosPermanent, chaosPanic, chaosExhaust:
				t.Errorf("job %d (%s) succeeded", i, chaosKindNames[j.kind])
			}
			continue
		}
		failed++
		var e *job.Error
		if !errors.As(err, &e) {
			t.Errorf("job %d: err %v (%T), want *job.Error", i, err, err)
			continue
		}
		// A job abandoned at Shutdown while its worker was still in its
		// hooks (user code on the worker) may have run OnSuccess already.
		if succ != 0 && !errors.Is(err, scheduler.ErrAbandoned) {
			t.Errorf("job %d (%s): failed (%v) after OnSuccess", i, chaosKindNames[j.kind], err)
		}
		reason := chaosReason(e, groupCause)
		byReason[reason]++
		if errors.Is(err, scheduler.ErrAbandoned) {
			abandonedByKind[chaosKindNames[j.kind]]++
		}
		switch {
		case reason == "canceled" && !j.cancel && !j.ownCancel:
			t.Errorf("job %d: Reason context.Canceled, but it was neither canceled nor had its ctx canceled: %v", i, err)
		case len(reason) > 5 && reason[:5] == "group" && reason != fmt.Sprintf("group %d", j.group):
			t.Errorf("job %d (group %d): Reason %v", i, j.group, e.Reason)
		case reason == "permanent" && j.kind != chaosPermanent && j.kind != chaosPanic:
			t.Errorf("job %d (%s): ErrPermanent: %v", i, chaosKindNames[j.kind], err)
		case reason == "exhausted" && j.kind != chaosExhaust:
			t.Errorf("job %d (%s): ErrExhausted: %v", i, chaosKindNames[j.kind], err)
		case reason == "other", reason == "deadline", reason == "budget":
			// No MaxElapsed, no ctx deadline, no budget in this run.
			t.Errorf("job %d (%s): unexpected Reason %v: %v", i, chaosKindNames[j.kind], e.Reason, err)
		}
		var pe *job.PanicError
		if j.kind == chaosPanic && reason == "permanent" && !errors.As(err, &pe) {
			t.Errorf("job %d panicked but its error has no *job.PanicError: %v", i, err)
		}
	}
	// Map: exactly one result per input, then the channel closes.
	mapSeen := make(map[int]int, len(mapIdx))
	mapTimeout := time.After(10 * time.Second)
collect:
	for {
		select {
		case r, ok := <-mapOut:
			if !ok {
				break collect
			}
			mapSeen[r.Index]++
			if r.Err == nil {
				succeeded++
				byReason["success"]++
			} else {
				failed++
				var e *job.Error
				if errors.As(r.Err, &e) {
					byReason[chaosReason(e, groupCause)]++
				}
			}
		case <-mapTimeout:
			t.Errorf("Map's channel not closed 10s after Shutdown returned")
			break collect
		}
	}
	mapLost, mapDup := 0, 0
	for k := range mapIdx {
		switch mapSeen[k] {
		case 0:
			mapLost++
		case 1:
		default:
			mapDup++
		}
	}
	if lost+mapLost != 0 || mapDup != 0 {
		t.Errorf("futures lost: %d (Map results lost %d, duplicated %d)", lost+mapLost, mapLost, mapDup)
	}
	st := s.Stats()
	statsAddUp(t, st)
	if got, want := st.Submitted, uint64(n); got != want {
		t.Errorf("Stats.Submitted = %d, want %d (one per job; TrySubmit's ErrQueueFull not counted)", got, want)
	}
	if st.Succeeded != uint64(succeeded) || st.GaveUp+st.Canceled != uint64(failed) {
		t.Errorf("Stats: Succeeded %d, GaveUp+Canceled %d; the futures say %d succeeded, %d failed", st.Succeeded, st.GaveUp+st.Canceled, succeeded, failed)
	}
	if !errors.Is(shutdownErr, context.DeadlineExceeded) && shutdownErr != nil {
		t.Errorf("Shutdown() = %v", shutdownErr)
	}
	close(release)
	mapCancel()
	for _, c := range groupCancel {
		c(nil)
	}
	ownCancels.Wait()
	leaked := noLeak(t, ignore)

	t.Logf("chaos: %d jobs (%d via Map), %d workers, queue %d, key limit %d, grace %v, GOMAXPROCS %d", n, nMap, workers, queue, chaosKeyLimit, grace, runtime.GOMAXPROCS(0))
	t.Logf("chaos: kinds: %s", chaosCounts(kinds[:]))
	t.Logf("chaos: faults injected: Future.Cancel %d, own ctx canceled %d, shared ctx (%d groups) %d, keyed %d; submitted by Submit %d, TrySubmit %d (ErrQueueFull %d), Go %d; Shutdown(20ms) after %d submissions: %v in %v",
		nCancel, nOwnCancel, groups, nGroup, nKeyed, int64(n-nMap)-nTry.Load()-nGo.Load(), nTry.Load(), nQueueFull.Load(), nGo.Load(), shutdownAt, shutdownErr, shutdownTook.Round(time.Microsecond))
	t.Logf("chaos: outcomes: %v; abandoned jobs by kind: %v", byReason, abandonedByKind)
	t.Logf("chaos: stats: %+v", st)
	t.Logf("chaos: futures lost %d, Map duplicates %d, goroutines leaked %d, peak heap %.1f MiB (sampled max %.1f MiB)",
		lost+mapLost, mapDup, leaked, float64(heapPeak)/(1<<20), float64(peak.Load())/(1<<20))
}

// chaosReason classifies a job's error by its Reason.
func chaosReason(e *job.Error, groupCause []error) string {
	switch {
	case e.Reason == job.ErrClosed && errors.Is(e.Last, scheduler.ErrAbandoned):
		return "closed+abandoned"
	case e.Reason == job.ErrClosed:
		return "closed"
	case e.Reason == job.ErrDeadline && errors.Is(e.Last, scheduler.ErrAbandoned):
		return "overrun+abandoned"
	case e.Reason == job.ErrDeadline:
		return "deadline"
	case e.Reason == job.ErrPermanent:
		return "permanent"
	case e.Reason == job.ErrExhausted:
		return "exhausted"
	case e.Reason == job.ErrBudget:
		return "budget"
	case e.Reason == context.Canceled:
		return "canceled"
	}
	for g, c := range groupCause {
		if e.Reason == c {
			return fmt.Sprintf("group %d", g)
		}
	}
	return "other"
}

func chaosCounts(kinds []int) string {
	s := ""
	for k, c := range kinds {
		if k > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", chaosKindNames[k], c)
	}
	return s
}

// chaosSampleHeap samples the live heap every few milliseconds until the
// returned stop function is called; stop returns the peak HeapAlloc seen.
func chaosSampleHeap() (peak *atomic.Uint64, stop func() uint64) {
	peak = new(atomic.Uint64)
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peak.Load() {
			peak.Store(ms.HeapAlloc)
		}
	}
	go func() {
		defer close(finished)
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return peak, func() uint64 {
		close(done)
		<-finished
		sample()
		return peak.Load()
	}
}
