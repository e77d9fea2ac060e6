// Command durable is a background job system that survives restarts: a
// producer process enqueues receipts to send into Redis, worker processes
// (any number, on any machines) send them with Rebound's retry policy on
// asynq, and the producer waits for every outcome.
//
//	redis-server --port 6379 --save '' &
//	go run ./examples/durable worker -outbox /tmp/outbox &   # one or more
//	go run ./examples/durable produce -n 20
//
// The mail provider is simulated: some sends fail with a 503 and are
// retried after the policy's wait; some get a 429 with Retry-After: 1, which
// the retry honours; receipts to an address without an @ are rejected for
// good (job.Permanent). Sending is the receipt's effect: a file in the
// outbox named by the task ID, linked into place only if absent. Delivery is
// at-least-once (a worker may die after sending and before asynq hears of
// it), so the task ID is the idempotency key: a second run of the same task
// finds its file and does not send again.
//
// worker -stall holds every task after sending, until the process is
// killed: the crash in the test of this command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/durable"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// Receipt is the payload: data, not a closure, so that any worker can run it.
type Receipt struct {
	Order string
	Email string
	Cents int
}

// Sent is the result.
type Sent struct {
	Attempt int  // the attempt that sent it (job.AttemptFrom)
	Again   bool // an earlier delivery of this task had sent it already
}

// SendReceipt is the Kind both processes share (in a real system it lives in
// a package both import): its name, its types, its policy.
var SendReceipt = durable.NewKind[Receipt, Sent]("receipt:send",
	job.MaxAttempts(6),
	job.Wait(wait.Exponential(200*time.Millisecond, 2, 10*time.Second)),
	job.Jitter(jitter.Full),
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

func usage(out io.Writer) int {
	fmt.Fprintln(out, "usage: durable worker [-redis addr] [-queue q] [-outbox dir] [-stall]")
	fmt.Fprintln(out, "       durable produce [-redis addr] [-queue q] [-n 20]")
	return 2
}

// run runs a worker until ctx ends, or a producer until its receipts end.
func run(ctx context.Context, args []string, out io.Writer) int {
	if len(args) == 0 {
		return usage(out)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	defaultAddr := os.Getenv("REBOUND_REDIS_ADDR")
	if defaultAddr == "" {
		defaultAddr = "127.0.0.1:6379"
	}
	addr := fs.String("redis", defaultAddr, "Redis address (default $REBOUND_REDIS_ADDR, else 127.0.0.1:6379)")
	db := fs.Int("db", 0, "Redis database")
	queue := fs.String("queue", "receipts", "asynq queue")
	outbox := fs.String("outbox", filepath.Join(os.TempDir(), "rebound-outbox"), "worker: where sent receipts go")
	stall := fs.Bool("stall", false, "worker: hold every task after sending, until killed")
	n := fs.Int("n", 20, "produce: receipts to send")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	redis := asynq.RedisClientOpt{Addr: *addr, DB: *db}
	switch args[0] {
	case "worker":
		return work(ctx, redis, *queue, *outbox, *stall, out)
	case "produce":
		return produce(ctx, redis, *queue, *n, out)
	}
	return usage(out)
}

// work runs a worker until ctx ends.
func work(ctx context.Context, redis asynq.RedisConnOpt, queue, outbox string, stall bool, out io.Writer) int {
	if err := os.MkdirAll(outbox, 0o755); err != nil {
		fmt.Fprintln(out, "worker:", err)
		return 1
	}
	w := durable.NewWorker(redis, asynq.Config{
		Concurrency: 8,
		Queues:      map[string]int{queue: 1},
		LogLevel:    asynq.WarnLevel,
	})
	durable.Handle(w, SendReceipt, func(ctx context.Context, r Receipt) (Sent, error) {
		return send(ctx, r, outbox, stall, out)
	})
	if err := w.Start(); err != nil {
		fmt.Fprintln(out, "worker:", err)
		return 1
	}
	fmt.Fprintf(out, "worker %d: serving queue %s, outbox %s\n", os.Getpid(), queue, outbox)
	<-ctx.Done()
	w.Shutdown()
	fmt.Fprintf(out, "worker %d: stopped\n", os.Getpid())
	return 0
}

// send is the handler: the simulated provider, then the effect, keyed by
// the task ID.
func send(ctx context.Context, r Receipt, outbox string, stall bool, out io.Writer) (Sent, error) {
	id, attempt := durable.TaskID(ctx), job.AttemptFrom(ctx)
	fmt.Fprintf(out, "run task=%s order=%s attempt=%d\n", id, r.Order, attempt)
	if !strings.Contains(r.Email, "@") {
		return Sent{}, job.Permanent(fmt.Errorf("550 no such mailbox: %q", r.Email))
	}
	if err := provider(r.Order, attempt); err != nil {
		return Sent{}, err
	}
	// The effect, at most once per task: the receipt is written to a temp
	// file, then linked to a name that is the task ID, which fails if a
	// delivery before this one got there. The link is atomic: a crash
	// leaves either no receipt or the whole of it.
	final := filepath.Join(outbox, id+".eml")
	if _, err := os.Stat(final); err == nil {
		fmt.Fprintf(out, "skip task=%s: sent by an earlier delivery\n", id)
		return Sent{Attempt: attempt, Again: true}, nil
	}
	tmp, err := os.CreateTemp(outbox, ".sending-*")
	if err != nil {
		return Sent{}, err
	}
	defer os.Remove(tmp.Name())
	_, werr := fmt.Fprintf(tmp, "To: %s\nSubject: receipt for order %s\n\nTotal: %d.%02d\n", r.Email, r.Order, r.Cents/100, r.Cents%100)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return Sent{}, err
	}
	if err := os.Link(tmp.Name(), final); errors.Is(err, os.ErrExist) {
		fmt.Fprintf(out, "skip task=%s: sent by an earlier delivery\n", id)
		return Sent{Attempt: attempt, Again: true}, nil
	} else if err != nil {
		return Sent{}, err
	}
	if stall {
		fmt.Fprintf(out, "stalled task=%s\n", id)
		<-ctx.Done() // until the process is killed (or the delivery times out)
		return Sent{}, ctx.Err()
	}
	return Sent{Attempt: attempt}, nil
}

// httpError is the simulated provider's failure.
type httpError struct {
	status int
	after  time.Duration
}

func (e *httpError) Error() string { return fmt.Sprintf("provider: HTTP %d", e.status) }

// RetryAfter makes a 429's Retry-After a hint (the interface job knows).
func (e *httpError) RetryAfter() time.Duration { return e.after }

// provider fails some first attempts, by order number: every third with a
// 503, every fifth with a 429 and Retry-After: 1.
func provider(order string, attempt int) error {
	if attempt > 1 {
		return nil
	}
	var k int
	fmt.Sscanf(order, "A-%d", &k)
	switch {
	case k%5 == 0:
		return &httpError{status: 429, after: time.Second}
	case k%3 == 0:
		return &httpError{status: 503}
	}
	return nil
}

// produce enqueues n receipts and waits for every outcome.
func produce(ctx context.Context, redis asynq.RedisConnOpt, queue string, n int, out io.Writer) int {
	c := durable.NewClient(redis)
	defer c.Close()
	start := time.Now()
	type pending struct {
		order string
		f     *durable.Future[Sent]
	}
	var all []pending
	for i := 1; i <= n; i++ {
		r := Receipt{Order: fmt.Sprintf("A-%03d", i), Email: fmt.Sprintf("buyer%d@example.com", i), Cents: 1000 + 7*i}
		if i%7 == 0 {
			r.Email = "nobody" // rejected for good
		}
		f, err := durable.Enqueue(ctx, c, SendReceipt, r, asynq.Queue(queue))
		if err != nil {
			fmt.Fprintln(out, "produce:", err)
			return 1
		}
		all = append(all, pending{r.Order, f})
	}
	fmt.Fprintf(out, "enqueued %d receipts on queue %s\n", n, queue)
	var sent, retried, again, gaveUp int
	for _, p := range all {
		s, err := p.f.Wait(ctx)
		var je *job.Error
		switch {
		case err == nil:
			sent++
			if s.Attempt > 1 {
				retried++
			}
			if s.Again {
				again++
			}
			fmt.Fprintf(out, "%s task=%s sent on attempt %d\n", p.order, p.f.ID(), s.Attempt)
		case errors.As(err, &je):
			gaveUp++
			fmt.Fprintf(out, "%s task=%s gave up: %v\n", p.order, p.f.ID(), err)
		default:
			fmt.Fprintf(out, "%s task=%s: %v\n", p.order, p.f.ID(), err)
			return 1
		}
	}
	fmt.Fprintf(out, "receipts:   %d\n  sent:     %d (%d after a retry, %d found already sent)\n  gave up:  %d\nwall time:  %v\n",
		n, sent, retried, again, gaveUp, time.Since(start).Round(time.Millisecond))
	return 0
}
