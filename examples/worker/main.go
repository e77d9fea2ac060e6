// Command worker is a background job worker that shuts down cleanly: jobs
// arrive on a queue, run on a Rebound scheduler with retries, and on SIGINT
// (Ctrl-C) or SIGTERM the worker stops taking jobs, gives the ones it has
// accepted a drain deadline to finish, cancels the rest, and proves that
// every accepted job ended one way or another: none is lost.
//
//	go run ./examples/worker              # press Ctrl-C to stop
//	go run ./examples/worker -for 3s      # or stop by itself after 3s
//	go run ./examples/worker -drain 100ms # a short drain cancels more jobs
//	go run ./examples/worker -overload    # more work than the workers can do
//
// Stop it with Ctrl-C, which signals every process of the terminal's
// foreground group, the program included. A kill of the go run process
// does not reach the program: build it (go build ./examples/worker) to
// signal it by its own pid.
//
// The queue is a local channel fed by a producer goroutine; in a real worker
// it would be a message broker. Each job sometimes fails for a while (a
// retryable error), a few are malformed (a permanent error) and a few are
// slow (they run longer than the drain deadline, so a shutdown cancels them).
// Which job does what follows from -seed.
//
// The defaults leave the workers mostly idle, so the worker settles into a
// steady state: it takes each job as it arrives, and nothing waits on the
// queue. The first line says how busy the workers should be on average;
// with -overload (or flags to the same effect) more work arrives than they
// can do, and the worker says what then happens: the scheduler fills to
// -limit jobs, refuses more (scheduler.ErrQueueFull), and the excess waits
// on the queue.
//
// The last line sums up: accepted=N succeeded=S gave_up=G canceled=C lost=0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

func main() {
	// The context ends on the first SIGINT or SIGTERM. A second one kills
	// the program the usual way, since NotifyContext stops listening.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

// config is what the flags set.
type config struct {
	rate      int           // jobs produced per second
	workers   int           // scheduler workers
	limit     int           // jobs accepted and not ended (scheduler.WithQueueSize)
	drain     time.Duration // how long a shutdown waits for accepted jobs
	runFor    time.Duration // stop by itself after this long; 0: wait for a signal
	every     time.Duration // status line interval
	fail      float64       // share of attempts that fail and are retried
	bad       float64       // share of jobs that fail permanently
	slow      float64       // share of jobs that take slowFor per attempt
	slowFor   time.Duration
	seed      uint64
	overload  bool // -overload: the old, overloading defaults
	queueSize int  // capacity of the local queue
}

// The policy of every job: up to maxAttempts attempts, 20ms, 40ms, 80ms...
// apart (jittered), and never more than maxElapsed for a whole job.
const (
	maxAttempts = 5
	maxElapsed  = 10 * time.Second
)

// An ordinary attempt takes 5ms plus up to 20ms: 15ms on average.
const (
	attemptMin    = 5 * time.Millisecond
	attemptSpread = 20 * time.Millisecond
	attemptMean   = attemptMin + attemptSpread/2
)

// load estimates how many workers the jobs keep busy on average: the
// arrival rate times the worker time of a job. A malformed job takes next
// to none; an ordinary one makes 1 + fail + fail² + ... attempts (up to
// maxAttempts) of attemptMean each; a slow one as many of slowFor each, cut
// short by maxElapsed. The waits between attempts hold no worker.
func (c config) load() float64 {
	var ordinary, slow float64 // worker seconds per job
	p := 1.0                   // the chance that attempt k+1 is made
	for k := range maxAttempts {
		ordinary += p * attemptMean.Seconds()
		if left := maxElapsed - time.Duration(k)*c.slowFor; left > 0 {
			slow += p * min(c.slowFor, left).Seconds()
		}
		p *= c.fail
	}
	return float64(c.rate) * (1 - c.bad) * ((1-c.slow)*ordinary + c.slow*slow)
}

// run works until ctx ends (or -for has passed), then shuts down. It writes
// everything it reports to out; only its own goroutine writes there.
func run(ctx context.Context, args []string, out io.Writer) int {
	var c config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.IntVar(&c.rate, "rate", 100, "jobs arriving per second")
	fs.IntVar(&c.workers, "workers", 16, "jobs running at once")
	fs.IntVar(&c.limit, "limit", 200, "jobs accepted and not yet ended, at most")
	fs.DurationVar(&c.drain, "drain", 2*time.Second, "on shutdown, how long accepted jobs have to finish")
	fs.DurationVar(&c.runFor, "for", 0, "stop after this long, as on a signal (0: run until SIGINT or SIGTERM)")
	fs.DurationVar(&c.every, "every", time.Second, "interval of the status line")
	fs.Float64Var(&c.fail, "fail", 0.3, "share of attempts that fail with a retryable error")
	fs.Float64Var(&c.bad, "bad", 0.03, "share of jobs that are malformed (a permanent error)")
	fs.Float64Var(&c.slow, "slow", 0.005, "share of jobs that are slow")
	fs.DurationVar(&c.slowFor, "slow-for", 5*time.Second, "how long a slow job's attempt takes")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of which jobs fail, are malformed or slow")
	fs.BoolVar(&c.overload, "overload", false, "overload the worker: -workers 8 -slow 0.02 unless given")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.overload {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["workers"] {
			c.workers = 8
		}
		if !set["slow"] {
			c.slow = 0.02
		}
	}
	if c.rate < 1 || c.workers < 1 || c.limit < 1 || c.every <= 0 {
		fmt.Fprintln(os.Stderr, "worker: -rate, -workers and -limit must be >= 1, -every > 0")
		return 2
	}
	c.queueSize = 1000
	if c.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.runFor)
		defer cancel()
	}
	w := &worker{cfg: c, out: out, start: time.Now()}
	return w.run(ctx)
}

// A jobSpec is one message of the queue.
type jobSpec struct {
	ID int
}

type worker struct {
	cfg   config
	out   io.Writer
	start time.Time
	s     *scheduler.Scheduler

	mu       sync.Mutex
	accepted []*job.Future[struct{}] // every job handed to the scheduler
	waited   int                     // jobs refused at first (ErrQueueFull) and tried again
}

func (w *worker) run(ctx context.Context) int {
	c := w.cfg
	// WithQueueSize bounds the jobs the scheduler holds (queued, running and
	// waiting for a retry), so a flood of jobs cannot exhaust memory.
	w.s = scheduler.New(scheduler.WithWorkers(c.workers), scheduler.WithQueueSize(c.limit))

	// One policy for every job: up to 5 attempts, 20ms, 40ms, 80ms... apart
	// (jittered), and never more than 10s for a whole job.
	policy := job.NewPolicy(
		job.MaxAttempts(maxAttempts),
		job.Wait(wait.Exponential(20*time.Millisecond, 2, time.Second)),
		job.MaxElapsed(maxElapsed),
	)

	queue := make(chan jobSpec, c.queueSize)
	var bg sync.WaitGroup
	bg.Go(func() { produce(ctx, queue, c.rate) })
	var held *jobSpec
	intakeDone := make(chan struct{})
	go func() {
		defer close(intakeDone)
		held = w.intake(ctx, queue, policy)
	}()

	fmt.Fprintf(w.out, "worker: %d workers, jobs arriving at %d/s; stop with Ctrl-C (SIGINT) or SIGTERM\n", c.workers, c.rate)
	load := c.load()
	if load < float64(c.workers) {
		fmt.Fprintf(w.out, "load: the jobs keep about %.1f of the %d workers busy on average: a steady state, nothing should wait on the queue\n",
			load, c.workers)
	} else {
		fmt.Fprintf(w.out, "overload: the jobs bring about %.1f workers' worth of work for %d workers, so the backlog grows for as long as the run lasts:\n"+
			"  the scheduler takes jobs until it holds %d (-limit: running, queued and waiting for a retry), then refuses more (ErrQueueFull);\n"+
			"  the intake waits for room, and arriving jobs wait on the queue (waiting=, up to %d, then the producer waits too).\n"+
			"  Nothing is stuck: jobs are accepted as fast as others end. Fewer or faster jobs, or more -workers, end the overload.\n",
			load, c.workers, c.limit, c.queueSize)
	}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-tick.C:
			w.status(len(queue))
		case <-ctx.Done():
		}
	}

	// Shutting down. First stop taking jobs: the producer (the broker's
	// side) stops, and so does the intake. The jobs already on the local
	// queue were delivered to this worker: it accepts those it has room for
	// at once and gives the rest back (a broker would redeliver them to the
	// next worker).
	<-intakeDone
	bg.Wait()
	var given, left int
	if held != nil {
		given++
		if !w.accept(*held, policy) {
			left++
		}
	}
	for len(queue) > 0 {
		given++
		if !w.accept(<-queue, policy) {
			left++
		}
	}
	fmt.Fprintf(w.out, "[%4.1fs] stop: no new jobs (%d delivered ones accepted, %d given back); draining for up to %v\n",
		w.since(), given-left, left, c.drain)

	// Then drain: Shutdown lets every accepted job run to its end, and when
	// the deadline passes first it cancels the rest (their error's Reason is
	// job.ErrClosed). It returns when every job has ended.
	dctx, cancel := context.WithTimeout(context.Background(), c.drain)
	defer cancel()
	began := time.Now()
	if err := w.s.Shutdown(dctx); err != nil {
		fmt.Fprintf(w.out, "[%4.1fs] drain deadline passed after %v: the jobs not yet ended were canceled\n",
			w.since(), time.Since(began).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w.out, "[%4.1fs] drained in %v: every accepted job ran to its end\n",
			w.since(), time.Since(began).Round(time.Millisecond))
	}

	return w.account(left)
}

// produce puts a job on the queue rate times a second until ctx ends. It
// stands for the broker's side.
func produce(ctx context.Context, queue chan<- jobSpec, rate int) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for id := 0; ; id++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case queue <- jobSpec{ID: id}:
		case <-ctx.Done():
			return
		}
	}
}

// intake takes jobs off the queue and submits them until ctx ends. It
// returns the job it held then, not accepted, if any.
func (w *worker) intake(ctx context.Context, queue <-chan jobSpec, policy *job.Policy) *jobSpec {
	for {
		var j jobSpec
		select {
		case <-ctx.Done():
			return nil
		case j = <-queue:
		}
		for first := true; !w.accept(j, policy); first = false {
			// ErrQueueFull: the worker holds as many jobs as it may. Wait
			// a moment and try again; this is the back-pressure that keeps
			// the queue, not memory, holding the excess.
			if first {
				w.mu.Lock()
				w.waited++
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return &j
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// accept hands job j to the scheduler, unless it holds as many jobs as it
// may (ErrQueueFull): then it reports false.
func (w *worker) accept(j jobSpec, policy *job.Policy) bool {
	op := func(actx context.Context) error { return w.process(actx, j) }
	// The job's context is not the run's: a signal must not cancel the
	// jobs already accepted; Shutdown's drain deadline does that.
	f, err := w.s.TryGo(context.Background(), op, policy)
	if err != nil {
		return false
	}
	w.mu.Lock()
	w.accepted = append(w.accepted, f)
	w.mu.Unlock()
	return true
}

// errMalformed is the permanent error of a malformed job.
var errMalformed = errors.New("malformed payload")

// process is one attempt of job j. It honours ctx: when the drain deadline
// passes, a slow job stops at once.
func (w *worker) process(ctx context.Context, j jobSpec) error {
	c := w.cfg
	attempt := job.AttemptFrom(ctx)
	if uniform(c.seed, j.ID, 0, 1) < c.bad {
		return job.Permanent(fmt.Errorf("job %d: %w", j.ID, errMalformed))
	}
	d := attemptMin + time.Duration(uniform(c.seed, j.ID, attempt, 2)*float64(attemptSpread))
	if uniform(c.seed, j.ID, 0, 3) < c.slow {
		d = c.slowFor
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if uniform(c.seed, j.ID, attempt, 4) < c.fail {
		return fmt.Errorf("job %d attempt %d: temporary failure", j.ID, attempt)
	}
	return nil
}

// status prints a status line: waiting is the jobs on the local queue, not
// yet accepted.
func (w *worker) status(waiting int) {
	st := w.s.Stats()
	w.mu.Lock()
	n := len(w.accepted)
	w.mu.Unlock()
	fmt.Fprintf(w.out, "[%4.1fs] accepted=%d running=%d queued=%d parked=%d succeeded=%d gave_up=%d waiting=%d\n",
		w.since(), n, st.Running, st.Queued, st.Parked, st.Succeeded, st.GaveUp, waiting)
}

// account checks every accepted job's future and prints the tallies.
func (w *worker) account(left int) int {
	var succeeded, gaveUp, canceled, lost int
	reasons := map[string]int{}
	for _, f := range w.accepted {
		select {
		case <-f.Done():
		default:
			lost++ // not ended: cannot happen after Shutdown returns
			continue
		}
		_, err := f.Wait(context.Background())
		var jerr *job.Error
		switch {
		case err == nil:
			succeeded++
		case errors.As(err, &jerr) && (errors.Is(jerr.Reason, job.ErrClosed) || errors.Is(jerr.Reason, context.Canceled)):
			canceled++
		case errors.As(err, &jerr):
			gaveUp++
			reasons[jerr.Reason.Error()]++
		default:
			gaveUp++
			reasons[err.Error()]++
		}
	}
	for _, r := range []error{job.ErrExhausted, job.ErrPermanent, job.ErrDeadline} {
		if n := reasons[r.Error()]; n > 0 {
			fmt.Fprintf(w.out, "gave up: %d with %q\n", n, r)
		}
	}
	fmt.Fprintf(w.out, "jobs refused at first, the scheduler being full (ErrQueueFull): %d\n", w.waited)
	fmt.Fprintf(w.out, "left on the queue, never accepted: %d\n", left)
	fmt.Fprintf(w.out, "accepted=%d succeeded=%d gave_up=%d canceled=%d lost=%d\n",
		len(w.accepted), succeeded, gaveUp, canceled, lost)
	if lost > 0 || succeeded+gaveUp+canceled != len(w.accepted) {
		return 1
	}
	return 0
}

func (w *worker) since() float64 { return time.Since(w.start).Seconds() }

// uniform returns a number in [0, 1) drawn from its inputs: the same inputs
// always give the same number (splitmix64).
func uniform(seed uint64, id, attempt, salt int) float64 {
	x := seed ^ uint64(id)*0x9e3779b97f4a7c15 ^ uint64(attempt)*0xbf58476d1ce4e5b9 ^ uint64(salt)*0x94d049bb133111eb
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
