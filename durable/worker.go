package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/job"
)

// DefaultInMemoryBelow is the default InMemoryBelow threshold: asynq moves
// due retries every 5 seconds by default, so a wait shorter than that is
// waited better in memory.
const DefaultInMemoryBelow = 5 * time.Second

// Worker is an asynq server that runs the handlers of Kinds under their
// policies. Build it with NewWorker, register handlers with Handle, then
// Start or Run it.
type Worker struct {
	srv      *asynq.Server
	mux      *asynq.ServeMux
	insp     *asynq.Inspector
	below    time.Duration
	env      job.Env
	fallback asynq.RetryDelayFunc

	mu       sync.RWMutex
	policies map[string]*job.Policy // by Kind name, for retries asynq starts

	life     sync.Mutex // orders Start and Shutdown
	stopping chan struct{}
	stopped  bool
}

// ErrShutdown is Start's error on a worker that was shut down.
var ErrShutdown = errors.New("durable: worker shut down")

// WorkerOption configures a Worker.
type WorkerOption func(*Worker)

// InMemoryBelow sets the threshold under which a retry's wait is waited in
// the handler, the task still leased, instead of in asynq's retry set
// (default DefaultInMemoryBelow). 0 sends every retry back to asynq. A
// waiting retry holds one of the server's Concurrency slots. It panics if d
// is negative.
func InMemoryBelow(d time.Duration) WorkerOption {
	if d < 0 {
		panic(fmt.Sprintf("durable: InMemoryBelow(%v): negative threshold", d))
	}
	return func(w *Worker) { w.below = d }
}

// NewWorker returns a worker on the Redis at redis, configured by cfg (see
// asynq.Config). cfg.RetryDelayFunc is replaced by the worker's, which gives
// a Kind's tasks the delays of its policy; the one given, if any, still
// serves task types not registered with Handle. cfg.IsFailure is wrapped: a
// delivery that ends without an attempt (it came early, or the task's
// progress could not be read) is no failure; other errors go to the one
// given (default: every error is a failure). Attempts are counted by the
// worker, so an IsFailure that says "no failure" does not reset them. It
// panics if redis is nil.
func NewWorker(redis asynq.RedisConnOpt, cfg asynq.Config, opts ...WorkerOption) *Worker {
	if redis == nil {
		panic("durable: NewWorker with a nil Redis connection option")
	}
	w := &Worker{
		mux:   asynq.NewServeMux(),
		insp:  asynq.NewInspector(redis),
		below: DefaultInMemoryBelow,
		// A wall-clock epoch (no monotonic reading): a task's start is
		// the producer's wall-clock enqueue time, so its Elapsed must be
		// wall-clock too.
		env:      job.Env{Clock: clock.New(), Epoch: time.Now().Round(0)},
		fallback: cfg.RetryDelayFunc,
		policies: make(map[string]*job.Policy),
		stopping: make(chan struct{}),
	}
	for _, o := range opts {
		if o == nil {
			panic("durable: NewWorker with a nil WorkerOption")
		}
		o(w)
	}
	cfg.RetryDelayFunc = w.retryDelay
	isFailure := cfg.IsFailure
	cfg.IsFailure = func(err error) bool {
		if h := (*handoff)(nil); errors.As(err, &h) && h.noAttempt {
			return false
		}
		return isFailure == nil || isFailure(err)
	}
	w.srv = asynq.NewServer(redis, cfg)
	return w
}

// Mux returns the worker's asynq.ServeMux, for plain asynq handlers beside
// the durable ones.
func (w *Worker) Mux() *asynq.ServeMux { return w.mux }

// Start starts processing tasks, in the background. A worker starts once:
// after Shutdown, Start returns ErrShutdown.
func (w *Worker) Start() error {
	w.life.Lock()
	defer w.life.Unlock()
	if w.stopped {
		return ErrShutdown
	}
	return w.srv.Start(w.mux)
}

// Run starts processing tasks and blocks until SIGINT or SIGTERM, then
// shuts the worker down.
func (w *Worker) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.Shutdown()
	return nil
}

// Shutdown stops taking tasks, sends every retry waiting in memory back to
// asynq's retry set (due when it would have been), waits for running
// attempts up to cfg.ShutdownTimeout (asynq puts back the ones still
// running then), and closes the worker's connections. Later calls do
// nothing.
func (w *Worker) Shutdown() {
	w.life.Lock()
	defer w.life.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	close(w.stopping)
	w.srv.Shutdown()
	w.insp.Close()
}

// TaskID returns the ID of the task whose handler got ctx: the idempotency
// key of its effects. It returns "" for any other context.
func TaskID(ctx context.Context) string {
	id, _ := asynq.GetTaskID(ctx)
	return id
}

// Handle registers fn as the handler of k's tasks on w. fn is an ordinary
// function of the payload: the worker decodes the payload, runs fn under
// k's policy, retries and records the outcome. It panics if w, k or fn is
// nil, or if k's name is already registered.
func Handle[P, R any](w *Worker, k *Kind[P, R], fn func(context.Context, P) (R, error)) {
	switch {
	case w == nil:
		panic("durable: Handle on a nil Worker")
	case k == nil:
		panic("durable: Handle of a nil Kind")
	case fn == nil:
		panic("durable: Handle(" + k.name + ") with a nil handler")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.policies[k.name]; dup {
		panic("durable: Handle(" + k.name + ") twice")
	}
	w.policies[k.name] = k.policy
	w.mux.HandleFunc(k.name, func(ctx context.Context, t *asynq.Task) error {
		return serve(ctx, w, k, fn, t)
	})
}

// handoff is a delivery's error when the next attempt is to wait in asynq's
// retry set: the worker's RetryDelayFunc reads the wait from it. A handoff
// with noAttempt made no attempt: the worker's IsFailure says it is no
// failure, so asynq does not count it.
type handoff struct {
	wait      time.Duration
	err       error
	noAttempt bool
}

func (h *handoff) Error() string {
	if h.noAttempt && h.err != nil {
		return h.err.Error() // asynq keeps it as the task's last error: a marker must lead
	}
	if h.err == nil {
		return fmt.Sprintf("durable: retry in %v", h.wait)
	}
	return fmt.Sprintf("durable: retry in %v: %v", h.wait, h.err)
}

func (h *handoff) Unwrap() error { return h.err }

// retryDelay is the worker's asynq.RetryDelayFunc.
func (w *Worker) retryDelay(n int, e error, t *asynq.Task) time.Duration {
	var h *handoff
	if errors.As(e, &h) {
		return h.wait
	}
	w.mu.RLock()
	p := w.policies[t.Type()]
	w.mu.RUnlock()
	if p != nil {
		// asynq retries on its own (a lost lease, a delivery's deadline):
		// wait what the policy says after retry n+1, without the task's
		// history (no hint, no Decorrelated growth).
		var r job.Run
		r.Resume(p, "", &w.env, w.env.Clock.Now(), n, 0, nil)
		r.Begin()
		if d := r.Judge(job.OutcomeOf(e), nil); d.Retry {
			return d.Wait
		}
		return 0 // the next delivery, which knows the task's history, decides
	}
	if w.fallback != nil {
		return w.fallback(n, e, t)
	}
	return asynq.DefaultRetryDelayFunc(n, e, t)
}

// errCorrupt marks a result field that is not a durable record: no retry
// can mend it.
var errCorrupt = errors.New("durable: the task's result field is not a durable record")

// progress reads the record earlier deliveries of task id left, the last
// error asynq has for the task and asynq's retry count. It tries again
// while Redis fails, as long as ctx allows.
func (w *Worker) progress(ctx context.Context, queue, id string) (rec record, lastErr string, retried int, err error) {
	var info *asynq.TaskInfo
	err = retrying(ctx, func() (err error) {
		info, err = w.insp.GetTaskInfo(queue, id)
		return err
	})
	if err != nil {
		return rec, "", 0, err
	}
	if len(info.Result) > 0 {
		if err := json.Unmarshal(info.Result, &rec); err != nil {
			return rec, "", 0, fmt.Errorf("%w: %w", errCorrupt, err)
		}
	}
	return rec, info.LastErr, info.Retried, nil
}

// delivery is one asynq delivery of a durable task.
type delivery struct {
	w     *Worker
	t     *asynq.Task
	id    string
	n     int // asynq's retry count: earlier deliveries that failed
	start int64
	run   job.Run
	last  error // the task's last error: see fail
	token int64 // of the last record this delivery wrote before an attempt; 0: none
	carry int64 // of an earlier attempt whose outcome was lost, to run again; 0: none
}

// write stores rec in the task's result field.
func (d *delivery) write(rec record) error {
	rec.V, rec.Delivery, rec.Start = recordVersion, d.n, d.start
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = d.t.ResultWriter().Write(b)
	return err
}

// tries are the pauses between tries at a Redis call the delivery cannot
// do without (reading its record, recording its outcome): worth riding out
// a blip for.
var tries = []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// deadlineMargin is how long before the delivery's deadline the worker stops
// trying, so that asynq gets the delivery's own error, not the deadline's.
const deadlineMargin = 100 * time.Millisecond

// retrying calls f until it succeeds or the tries run out, pausing between
// tries while ctx (and its deadline, less a margin) allows.
func retrying(ctx context.Context, f func() error) (err error) {
	for _, pause := range tries {
		if pause > 0 {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause+deadlineMargin {
				return err
			}
			timer := time.NewTimer(pause)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return errors.Join(err, context.Cause(ctx))
			}
		}
		if err = f(); err == nil {
			return nil
		}
	}
	return err
}

// writeFinal records the task's outcome, trying again while the delivery
// lives.
func (d *delivery) writeFinal(ctx context.Context, rec record) error {
	return retrying(ctx, func() error { return d.write(rec) })
}

// writeAttempt records attempt n before it starts, under a new token.
func (d *delivery) writeAttempt(n int) error {
	tok := rand.Int64() | 1
	if err := d.write(record{Attempts: n, Prev: d.run.Prev(), Err: d.lastText(), Token: tok}); err != nil {
		return err
	}
	d.token, d.carry = tok, 0
	return nil
}

// unrecorded leads a delivery's error when Redis refused its outcome: asynq
// keeps the text as the task's last error, and the next delivery, finding
// the record that the token names still in place, runs that attempt again
// instead of counting it (at-least-once).
const unrecorded = "durable: outcome not recorded"

func marker(token int64) string { return fmt.Sprintf("%s [%x]", unrecorded, token) }

// markerToken reads the token of an unrecorded outcome from asynq's last
// error for a task.
func markerToken(lastErr string) (int64, bool) {
	rest, ok := strings.CutPrefix(lastErr, unrecorded+" [")
	if !ok {
		return 0, false
	}
	hex, _, ok := strings.Cut(rest, "]")
	if !ok {
		return 0, false
	}
	tok, err := strconv.ParseInt(hex, 16, 64)
	return tok, err == nil && tok != 0
}

// lost is a delivery's error when Redis refused to record what, after
// tries: the attempt it belongs to (this delivery's, or an earlier lost one
// it was to run again) runs again at the next delivery. A delivery that
// made no attempt of its own and runs none again has nothing to re-run.
func (d *delivery) lost(what string, err error) error {
	tok := d.token
	if tok == 0 {
		tok = d.carry
	}
	if tok == 0 {
		return noAttempt(retryUnread, fmt.Errorf("durable: task %s: %s not recorded: %w", d.id, what, err))
	}
	return noAttempt(retryUnread, fmt.Errorf("%s: task %s: %s: %w", marker(tok), d.id, what, err))
}

// lastText is the text of the task's last error, kept in records so that a
// later delivery's outcome still has it.
func (d *delivery) lastText() string {
	if d.last == nil {
		return ""
	}
	return d.last.Error()
}

// fail returns the task's final error for reason. The delivery keeps the
// task's last error itself (d.last), not the run: it may come from an
// earlier delivery's record (a job.Run resumes without one), or be the
// delivery's own (an undecodable payload, an unencodable result) rather
// than an attempt's; after each verdict it is the run's Last.
func (d *delivery) fail(reason error) error {
	return &job.Error{Reason: reason, Last: d.last, Attempts: d.run.Attempts(), Elapsed: d.run.Elapsed()}
}

// giveUp records the task's failure and ends it (asynq archives it).
// OnGiveUp fires if the task made any attempt, in this delivery or before.
// If the failure cannot be recorded, the task goes back to asynq: the next
// delivery decides again.
func (d *delivery) giveUp(ctx context.Context, reason error) error {
	final := d.fail(reason)
	// The hook runs before the outcome is recorded, so before any Future
	// sees it, as in-process.
	if d.run.Attempts() > 0 {
		d.run.GaveUp(final)
	}
	if werr := d.writeFinal(ctx, record{Done: true, Reason: reasonName(reason), Err: d.lastText(),
		Attempts: d.run.Attempts(), Elapsed: d.run.Elapsed()}); werr != nil {
		return d.lost(fmt.Sprintf("gave up (%v)", final), werr)
	}
	return fmt.Errorf("%w (%w)", final, asynq.SkipRetry)
}

// handOff records the task's progress and sends it back to asynq's retry
// set, to be attempted again after wait.
func (d *delivery) handOff(wait time.Duration, now time.Time) error {
	// A failed write is not fatal: the attempts are recorded already; only
	// the due time (a hint's lower bound on an early redelivery) is lost.
	_ = d.write(record{Attempts: d.run.Attempts(), Prev: d.run.Prev(), Err: d.lastText(), Due: now.Add(wait).UnixNano()})
	return &handoff{wait: wait, err: d.last}
}

// noAttempt sends a delivery that made no attempt back to the retry set,
// after wait, leaving the task's record as it is. asynq does not count it as
// a failure.
func noAttempt(wait time.Duration, err error) error {
	return &handoff{wait: max(wait, 0), err: err, noAttempt: true}
}

// retryUnread is the wait after a delivery that could not read or write
// the task's record (Redis trouble).
const retryUnread = time.Second

// nap waits on timer; it returns false if the delivery must end first.
func (d *delivery) nap(ctx context.Context, timer *time.Timer) bool {
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-d.w.stopping:
	}
	return false
}

// earlySlack is how early asynq may deliver a retry on its own: its due
// times are whole seconds, and the forwarder moves due tasks in batches. The
// rest of an early delivery's wait is waited in memory below it, whatever
// the worker's threshold.
const earlySlack = 2 * time.Second

// fits reports whether a wait of wait, starting now, may be waited in
// memory: under limit, the delivery alive and the worker not stopping, and
// ending before the delivery's deadline.
func (d *delivery) fits(ctx context.Context, wait, limit time.Duration, now time.Time) bool {
	if wait >= limit || ctx.Err() != nil {
		return false
	}
	select {
	case <-d.w.stopping:
		return false
	default:
	}
	dl, ok := ctx.Deadline()
	return !ok || now.Add(wait).Before(dl)
}

// resumePoint returns the attempts a task has made, the token of an attempt
// to run again (0: none) and its last error, from its record and what asynq
// has for it (its last error and retry count).
func resumePoint(prev record, lastErr string, retried int) (attempts int, carry int64, last error) {
	attempts = prev.Attempts
	if tok, ok := markerToken(lastErr); ok && tok == prev.Token && attempts > 0 {
		// The outcome of the attempt that record was written for was
		// lost, and nothing was recorded since: that attempt runs again.
		attempts--
		carry = tok
	}
	switch {
	case prev.Due == 0 && prev.Attempts > 0 && retried > prev.Delivery && lastErr != "" && !strings.HasPrefix(lastErr, "durable: "):
		// A record written before an attempt, and a failure asynq counted
		// since: the attempt was cut short (a lost lease, a Timeout), and
		// what asynq saw is the latest news of it.
		last = &RemoteError{Msg: lastErr}
	case prev.Err != "":
		last = &RemoteError{Msg: prev.Err}
	}
	return attempts, carry, last
}

// serve runs one delivery of a task of k: decode, resume the task's run
// from its record, attempt and wait until it succeeds, gives up, or hands
// off. Every attempt is recorded before it starts, so that a crash, a lost
// lease or a requeue during it still counts it.
func serve[P, R any](ctx context.Context, w *Worker, k *Kind[P, R], fn func(context.Context, P) (R, error), t *asynq.Task) error {
	d := &delivery{w: w, t: t}
	d.id, _ = asynq.GetTaskID(ctx)
	d.n, _ = asynq.GetRetryCount(ctx)
	queue, _ := asynq.GetQueueName(ctx)

	prev, lastErr, retried, err := w.progress(ctx, queue, d.id)
	switch {
	case errors.Is(err, errCorrupt):
		d.run.Resume(k.policy, d.id, &w.env, w.env.Clock.Now(), 0, 0, err)
		d.last = err
		return d.giveUp(ctx, job.ErrPermanent)
	case err != nil:
		return noAttempt(retryUnread, fmt.Errorf("durable: reading task %s's progress: %w", d.id, err))
	case prev.Done:
		// An earlier delivery ended the task and was lost before asynq
		// heard of it: report the recorded outcome, do not run it again.
		if prev.Reason == "" {
			return nil
		}
		return fmt.Errorf("durable: task %s already ended: %s (%w)", d.id, prev.Err, asynq.SkipRetry)
	}
	// MaxElapsed counts from the enqueue time in the task's header; a task
	// enqueued without one (by plain asynq) counts from its first delivery.
	start, ok := enqueued(t.Headers())
	switch {
	case ok:
	case prev.Start != 0:
		start = time.Unix(0, prev.Start)
	default:
		start = w.env.Clock.Now()
	}
	d.start = start.UnixNano()
	attempts, carry, last := resumePoint(prev, lastErr, retried)
	d.carry, d.last = carry, last
	d.run.Resume(k.policy, d.id, &w.env, start, attempts, prev.Prev, last)
	payload, err := decodePayload[P](t.Payload())
	if err != nil {
		d.last = err
		return d.giveUp(ctx, job.ErrPermanent)
	}
	op := job.OpFunc[R](func(ctx context.Context) (R, error) { return fn(ctx, payload) })

	// asynq keeps due times in whole seconds and may deliver a retry up to a
	// second early (or at once, when someone runs it by hand): wait out the
	// rest, a hint being a lower bound. A longer rest goes back to the
	// retry set.
	if prev.Due > 0 {
		now := w.env.Clock.Now()
		if rest := time.Unix(0, prev.Due).Sub(now); rest > 0 {
			if !d.fits(ctx, rest, max(w.below, earlySlack), now) {
				return noAttempt(rest, nil)
			}
			timer := time.NewTimer(rest)
			ok := d.nap(ctx, timer)
			timer.Stop()
			if !ok {
				return noAttempt(time.Until(time.Unix(0, prev.Due)), nil)
			}
		}
	}
	for {
		if m := k.policy.MaxAttempts(); m > 0 && d.run.Attempts() >= m {
			return d.giveUp(ctx, job.ErrExhausted) // earlier deliveries used them up
		}
		if d.run.Late() {
			// Delivered past the deadline (asynq's forwarder runs every
			// few seconds): no attempt, as in-process.
			return d.giveUp(ctx, job.ErrDeadline)
		}
		n := d.run.Begin()
		if err := d.writeAttempt(n); err != nil {
			if d.carry != 0 {
				// Still owing the run of a lost outcome: keep its marker.
				return d.lost(fmt.Sprintf("attempt %d not started", n), err)
			}
			return noAttempt(retryUnread, fmt.Errorf("durable: recording task %s's attempt %d: %w", d.id, n, err))
		}
		// job.Call builds the attempt's context (its number, the policy's
		// AttemptTimeout, the task's deadline), recovers a panic into a
		// permanent *job.PanicError and applies RetryOnResult.
		v, o := job.Call(ctx, &d.run, nil, op)
		if ctx.Err() != nil {
			// The delivery ended under the attempt (its Timeout, a lost
			// lease, the worker's shutdown): asynq has acted on it already.
			// The attempt is counted; the job goes on at the next delivery.
			return fmt.Errorf("durable: task %s: delivery ended during attempt %d: %w", d.id, n, context.Cause(ctx))
		}
		dec := d.run.Judge(o, nil)
		d.last = d.run.Last()
		switch {
		case dec.Succeeded():
			b, merr := json.Marshal(v)
			if merr != nil {
				d.last = fmt.Errorf("durable: encoding the result: %w", merr)
				return d.giveUp(ctx, job.ErrPermanent)
			}
			elapsed := d.run.Elapsed()
			d.run.Succeeded() // before the outcome is recorded, as in-process
			if werr := d.writeFinal(ctx, record{Done: true, Value: b, Attempts: n, Elapsed: elapsed}); werr != nil {
				// Without its result the task is not done: the next
				// delivery runs this attempt again (at-least-once).
				return d.lost(fmt.Sprintf("succeeded on attempt %d", n), werr)
			}
			return nil
		case !dec.Retry:
			return d.giveUp(ctx, dec.Reason)
		}
		now := w.env.Clock.Now()
		if !d.fits(ctx, dec.Wait, w.below, now) {
			err := d.handOff(dec.Wait, now)
			d.run.Retrying(dec.Wait)
			return err
		}
		// Arm the timer before the hook, as job.Do does: the hook's time
		// counts toward the wait.
		timer := time.NewTimer(dec.Wait)
		d.run.Retrying(dec.Wait)
		ok := d.nap(ctx, timer)
		timer.Stop()
		if !ok {
			return d.handOff(max(0, dec.Wait-w.env.Clock.Since(now)), w.env.Clock.Now())
		}
	}
}
