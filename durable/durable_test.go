package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/durable"
	"github.com/rebound-go/rebound/durable/redistest"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

type greet struct{ Name string }

// calls records what a handler saw, in order.
type calls struct {
	mu       sync.Mutex
	attempts []int
	starts   []time.Time
	ends     []time.Time
	ids      []string
}

func (c *calls) begin(ctx context.Context) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts = append(c.attempts, job.AttemptFrom(ctx))
	c.starts = append(c.starts, time.Now())
	c.ids = append(c.ids, durable.TaskID(ctx))
	return len(c.attempts)
}

func (c *calls) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends = append(c.ends, time.Now())
}

func (c *calls) snapshot() (attempts []int, starts, ends []time.Time, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.attempts...), append([]time.Time(nil), c.starts...),
		append([]time.Time(nil), c.ends...), append([]string(nil), c.ids...)
}

// failing returns a handler that fails its first n calls, then greets.
func failing(c *calls, n int, fail func(call int) error) func(context.Context, greet) (string, error) {
	return func(ctx context.Context, g greet) (string, error) {
		call := c.begin(ctx)
		defer c.end()
		if call <= n {
			return "", fail(call)
		}
		return "hello " + g.Name, nil
	}
}

func plainFail(call int) error { return fmt.Errorf("fail %d", call) }

func wantInts(t *testing.T, what string, got, want []int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:greet")
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 0, plainFail)) })
	cl := newClient(t)

	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"ada"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Wait(waitCtx(t, 10*time.Second))
	if err != nil || got != "hello ada" {
		t.Fatalf("Wait = %q, %v; want hello ada", got, err)
	}
	attempts, _, _, ids := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1})
	if ids[0] != f.ID() || f.Queue() != q {
		t.Fatalf("handler saw task %q, future is %q in %q (queue %q)", ids[0], f.ID(), f.Queue(), q)
	}
	// Any process can follow the task by its ID.
	again, err := durable.FutureOf[string](cl, q, f.ID()).Wait(waitCtx(t, 5*time.Second))
	if err != nil || again != "hello ada" {
		t.Fatalf("FutureOf(...).Wait = %q, %v", again, err)
	}
}

// Retries whose wait is below InMemoryBelow run in the same delivery: asynq
// sees one delivery; hooks fire once per retry with the task ID as key.
func TestShortWaitsStayInMemory(t *testing.T) {
	q := queueName(t)
	var mu sync.Mutex
	var events []job.Event
	kind := durable.NewKind[greet, string]("test:short",
		job.Wait(wait.Constant(50*time.Millisecond)), job.Jitter(jitter.None),
		job.OnRetry(func(e job.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 2, plainFail)) })
	cl := newClient(t)

	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"bob"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Wait(waitCtx(t, 10*time.Second)); err != nil || got != "hello bob" {
		t.Fatalf("Wait = %q, %v", got, err)
	}
	attempts, starts, ends, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2, 3})
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(ends[i-1]); gap < 50*time.Millisecond {
			t.Errorf("attempt %d started %v after attempt %d ended, want >= 50ms", i+1, gap, i)
		}
	}
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info.Retried != 0 {
		t.Errorf("asynq retried the task %d times, want 0: short waits stay in the handler", info.Retried)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("OnRetry fired %d times, want 2", len(events))
	}
	for i, e := range events {
		if e.Attempt != i+1 || e.Wait != 50*time.Millisecond || e.Key != f.ID() || e.Err == nil {
			t.Errorf("OnRetry event %d = %+v, want attempt %d, wait 50ms, key %s, an error", i, e, i+1, f.ID())
		}
	}
}

// With InMemoryBelow(0) every retry goes back to asynq's retry set: one
// delivery per attempt, the attempt number carried across deliveries, and
// no attempt before its wait is over.
func TestLongWaitsGoBackToAsynq(t *testing.T) {
	q := queueName(t)
	var mu sync.Mutex
	var retries, successes []job.Event
	kind := durable.NewKind[greet, string]("test:long",
		job.Wait(wait.Constant(300*time.Millisecond)), job.Jitter(jitter.None),
		job.OnRetry(func(e job.Event) { mu.Lock(); retries = append(retries, e); mu.Unlock() }),
		job.OnSuccess(func(e job.Event) { mu.Lock(); successes = append(successes, e); mu.Unlock() }))
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 2, plainFail)) }, durable.InMemoryBelow(0))
	cl := newClient(t)

	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"cy"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Wait(waitCtx(t, 20*time.Second)); err != nil || got != "hello cy" {
		t.Fatalf("Wait = %q, %v", got, err)
	}
	attempts, starts, ends, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2, 3})
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(ends[i-1]); gap < 300*time.Millisecond {
			t.Errorf("attempt %d started %v after attempt %d ended, want >= 300ms", i+1, gap, i)
		}
	}
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info.Retried != 2 {
		t.Errorf("asynq retried the task %d times, want 2 (one delivery per attempt)", info.Retried)
	}
	// Hooks fire as in-process, whichever delivery made the attempt.
	mu.Lock()
	defer mu.Unlock()
	if len(retries) != 2 || retries[0].Attempt != 1 || retries[1].Attempt != 2 ||
		retries[0].Wait != 300*time.Millisecond || retries[1].Key != f.ID() {
		t.Errorf("OnRetry events %+v, want attempts 1 and 2, each with a 300ms wait and the task ID as key", retries)
	}
	if len(successes) != 1 || successes[0].Attempt != 3 || successes[0].Elapsed < 600*time.Millisecond {
		t.Errorf("OnSuccess events %+v, want one, attempt 3, elapsed >= 600ms since the enqueue", successes)
	}
}

// MaxAttempts bounds the attempts in all, in memory and across deliveries.
func TestMaxAttemptsCountsEveryDelivery(t *testing.T) {
	q := queueName(t)
	// Odd retries wait 10ms (in memory), even ones 300ms (asynq).
	alternate := wait.Func(func(n int, _ time.Duration) (time.Duration, bool) {
		if n%2 == 1 {
			return 10 * time.Millisecond, true
		}
		return 300 * time.Millisecond, true
	})
	kind := durable.NewKind[greet, string]("test:exhaust", job.MaxAttempts(4), job.Wait(alternate), job.Jitter(jitter.None))
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 100, plainFail)) },
		durable.InMemoryBelow(100*time.Millisecond))
	cl := newClient(t)

	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"dee"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 20*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrExhausted) || je.Attempts != 4 {
		t.Fatalf("Wait error = %v, want a *job.Error, ErrExhausted after 4 attempts", err)
	}
	var re *durable.RemoteError
	if !errors.As(err, &re) || re.Msg != "fail 4" {
		t.Fatalf("Last = %v, want the RemoteError of the fourth attempt", je.Last)
	}
	attempts, _, _, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2, 3, 4})
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateArchived || info.Retried != 1 {
		t.Errorf("task %v after %d retries, want archived after 1 (two deliveries)", info.State, info.Retried)
	}
}

func TestPermanentIsArchivedAtOnce(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:permanent", job.Wait(wait.Constant(time.Millisecond)))
	var c calls
	startWorker(t, q, func(w *durable.Worker) {
		durable.Handle(w, kind, failing(&c, 100, func(int) error { return job.Permanent(errors.New("no such user")) }))
	})
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"eve"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 10*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrPermanent) || je.Attempts != 1 || je.Last.Error() != "no such user" {
		t.Fatalf("Wait error = %v, want ErrPermanent after 1 attempt, last 'no such user'", err)
	}
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Errorf("task %v after %d retries, want archived after 0", info.State, info.Retried)
	}
}

// A Retry-After hint is a lower bound on the wait, in memory and through
// asynq (which schedules in whole seconds and may deliver early).
func TestHintIsALowerBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		below time.Duration
		hint  time.Duration
	}{
		{"in memory", 5 * time.Second, 400 * time.Millisecond},
		{"through asynq", 0, 1200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queueName(t)
			kind := durable.NewKind[greet, string]("test:hint", job.Wait(wait.Constant(time.Millisecond)))
			var c calls
			startWorker(t, q, func(w *durable.Worker) {
				durable.Handle(w, kind, failing(&c, 1, func(int) error { return job.RetryAfter(errors.New("429"), tc.hint) }))
			}, durable.InMemoryBelow(tc.below))
			cl := newClient(t)
			f, err := durable.Enqueue(context.Background(), cl, kind, greet{"fay"}, asynq.Queue(q))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Wait(waitCtx(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			attempts, starts, ends, _ := c.snapshot()
			wantInts(t, "attempts seen", attempts, []int{1, 2})
			if gap := starts[1].Sub(ends[0]); gap < tc.hint {
				t.Fatalf("second attempt %v after the first, want >= the %v hint", gap, tc.hint)
			}
		})
	}
}

// MaxElapsed counts from the enqueue time: a task delivered after it gives
// up without an attempt.
func TestMaxElapsedCountsFromEnqueue(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:elapsed", job.MaxElapsed(500*time.Millisecond))
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 0, plainFail)) })
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"gus"}, asynq.Queue(q), asynq.ProcessIn(2*time.Second)) // asynq rounds to whole seconds: at least 1s
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 20*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrDeadline) || je.Attempts != 0 || je.Elapsed < 500*time.Millisecond {
		t.Fatalf("Wait error = %v, want ErrDeadline with 0 attempts, elapsed >= 500ms since enqueue", err)
	}
	if attempts, _, _, _ := c.snapshot(); len(attempts) != 0 {
		t.Fatalf("handler ran %d times, want 0", len(attempts))
	}
}

func TestRetryOnResult(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[int, int]("test:result", job.Wait(wait.Constant(time.Millisecond)),
		job.RetryOnResult(func(v int) bool { return v < 3 }))
	var mu sync.Mutex
	n := 0
	startWorker(t, q, func(w *durable.Worker) {
		durable.Handle(w, kind, func(ctx context.Context, start int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			return start + n, nil
		})
	})
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, 0, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Wait(waitCtx(t, 10*time.Second)); err != nil || got != 3 {
		t.Fatalf("Wait = %d, %v; want 3 (values below 3 retried)", got, err)
	}
}

func TestPanicIsPermanent(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:panic")
	startWorker(t, q, func(w *durable.Worker) {
		durable.Handle(w, kind, func(context.Context, greet) (string, error) { panic("kaboom") })
	})
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"hal"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 10*time.Second))
	if !errors.Is(err, job.ErrPermanent) || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("Wait error = %v, want ErrPermanent naming the panic", err)
	}
}

// A payload that is not the Kind's is a permanent failure, without an
// attempt.
func TestBadPayloadIsPermanent(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:badpayload")
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 0, plainFail)) })
	raw := asynq.NewClient(redisOpt(t))
	defer raw.Close()
	info, err := raw.Enqueue(asynq.NewTask(kind.Name(), []byte("not json")), asynq.Queue(q), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, err = durable.FutureOf[string](newClient(t), q, info.ID).Wait(waitCtx(t, 10*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrPermanent) || je.Attempts != 0 || !strings.Contains(err.Error(), "decoding the payload") {
		t.Fatalf("Wait error = %v, want ErrPermanent with 0 attempts about the payload", err)
	}
	if attempts, _, _, _ := c.snapshot(); len(attempts) != 0 {
		t.Fatalf("handler ran %d times, want 0", len(attempts))
	}
}

func TestFutureOfUnknownTask(t *testing.T) {
	q := queueName(t)
	cl := newClient(t)
	// Make the queue exist, so that the task is what is missing.
	if _, err := durable.Enqueue(context.Background(), cl, durable.NewKind[int, int]("test:nothing"), 1, asynq.Queue(q), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := durable.FutureOf[int](cl, q, "no-such-task").Wait(waitCtx(t, 5*time.Second))
	if !errors.Is(err, durable.ErrNotFound) {
		t.Fatalf("Wait error = %v, want ErrNotFound", err)
	}
	newInspector(t).DeleteQueue(q, true)
}

// Wait ends with its context; the task is untouched.
func TestWaitEndsWithItsContext(t *testing.T) {
	q := queueName(t)
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, durable.NewKind[int, int]("test:later"), 1, asynq.Queue(q), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("caller gave up")
	cancel(cause)
	if _, err := f.Wait(ctx); !errors.Is(err, cause) {
		t.Fatalf("Wait error = %v, want the ctx's cause", err)
	}
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("task after Wait: %v, %v; want still scheduled", info, err)
	}
	newInspector(t).DeleteQueue(q, true)
}

// A worker shutting down sends a retry waiting in memory back to asynq,
// due when it would have been; another worker makes the attempt then.
func TestShutdownHandsOffAWaitingRetry(t *testing.T) {
	q := queueName(t)
	retrying := make(chan struct{}, 1)
	kind := durable.NewKind[greet, string]("test:handoff",
		job.Wait(wait.Constant(2*time.Second)), job.Jitter(jitter.None),
		job.OnRetry(func(job.Event) { retrying <- struct{}{} }))
	var c calls
	handler := failing(&c, 1, plainFail)
	a := startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, handler) }, durable.InMemoryBelow(time.Minute))
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"ivy"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	<-retrying // the first attempt failed; the retry waits 2s in worker a
	shutdownStart := time.Now()
	a.Shutdown()
	if took := time.Since(shutdownStart); took >= 2*time.Second {
		t.Errorf("Shutdown took %v: it waited out the in-memory retry instead of handing it off", took)
	}
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, handler) })
	if got, err := f.Wait(waitCtx(t, 20*time.Second)); err != nil || got != "hello ivy" {
		t.Fatalf("Wait = %q, %v", got, err)
	}
	attempts, starts, ends, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2})
	if gap := starts[1].Sub(ends[0]); gap < 2*time.Second {
		t.Fatalf("second attempt %v after the first, want >= the 2s wait", gap)
	}
}

func TestMisuse(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"empty name", "durable: NewKind with an empty name", func() { durable.NewKind[int, int]("") }},
		{"job.Key", "job.Key", func() { durable.NewKind[int, int]("k", job.Key("x")) }},
		{"RetryOnResult of another type", "RetryOnResult", func() {
			durable.NewKind[int, string]("k", job.RetryOnResult(func(int) bool { return false }))
		}},
		{"negative InMemoryBelow", "durable: InMemoryBelow", func() { durable.InMemoryBelow(-time.Second) }},
		{"zero KeepResults", "durable: KeepResults", func() { durable.KeepResults(0) }},
		{"KeepResults under a second", "under a second", func() { durable.KeepResults(500 * time.Millisecond) }},
		{"FutureOf without a queue", "durable: FutureOf", func() {
			c := durable.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"})
			defer c.Close()
			durable.FutureOf[int](c, "", "id")
		}},
		{"asynq.Deadline", "job.MaxElapsed", func() {
			c := durable.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"})
			defer c.Close()
			durable.Enqueue(context.Background(), c, durable.NewKind[int, int]("k"), 1, asynq.Deadline(time.Now()))
		}},
		{"zero PollEvery", "durable: PollEvery", func() { durable.PollEvery(0) }},
		{"nil Redis", "durable: NewClient", func() { durable.NewClient(nil) }},
		{"MaxRetry", "asynq.MaxRetry", func() {
			c := durable.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"})
			defer c.Close()
			durable.Enqueue(context.Background(), c, durable.NewKind[int, int]("k"), 1, asynq.MaxRetry(3))
		}},
		{"Handle twice", "twice", func() {
			w := durable.NewWorker(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, asynq.Config{})
			defer w.Shutdown()
			k := durable.NewKind[int, int]("k")
			h := func(context.Context, int) (int, error) { return 0, nil }
			durable.Handle(w, k, h)
			durable.Handle(w, k, h)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if v == nil || !strings.Contains(fmt.Sprint(v), tc.want) {
					t.Fatalf("panic = %v, want one containing %q", v, tc.want)
				}
			}()
			tc.f()
		})
	}
}

// A worker shut down under a running attempt: asynq puts the task back
// (its retry count unchanged). The attempt was recorded before it started,
// so the next worker goes on counting: MaxAttempts still bounds the task.
func TestRequeueAtShutdownKeepsTheCount(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:requeue", job.MaxAttempts(3),
		job.Wait(wait.Constant(10*time.Millisecond)), job.Jitter(jitter.None))
	var c calls
	stuck, release := make(chan struct{}), make(chan struct{})
	handler := func(ctx context.Context, g greet) (string, error) {
		call := c.begin(ctx)
		defer c.end()
		if call == 2 {
			close(stuck)
			<-release // ignores ctx: asynq gives up on it at ShutdownTimeout
		}
		return "", fmt.Errorf("fail %d", call)
	}
	cfg := config(q)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	a := startWorkerWith(t, redisOpt(t), cfg, func(w *durable.Worker) { durable.Handle(w, kind, handler) })
	cl := newClient(t)
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"jo"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	<-stuck
	a.Shutdown() // requeues the task after 200ms
	close(release)
	info, err := newInspector(t).GetTaskInfo(q, f.ID())
	if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Fatalf("after the shutdown: %+v, %v; want the task pending, retry count 0", info, err)
	}
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, handler) })
	_, err = f.Wait(waitCtx(t, 10*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrExhausted) || je.Attempts != 3 {
		t.Fatalf("Wait error = %v, want ErrExhausted after 3 attempts", err)
	}
	attempts, _, _, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2, 3})
}

// An IsFailure that calls every error "no failure" keeps asynq's retry
// count at 0; the worker's own count still ends the task.
func TestIsFailureDoesNotResetTheCount(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:isfailure", job.MaxAttempts(3),
		job.Wait(wait.Constant(100*time.Millisecond)), job.Jitter(jitter.None))
	var c calls
	cfg := config(q)
	cfg.IsFailure = func(error) bool { return false }
	startWorkerWith(t, redisOpt(t), cfg, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 100, plainFail)) }, durable.InMemoryBelow(0))
	f, err := durable.Enqueue(context.Background(), newClient(t), kind, greet{"kai"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(waitCtx(t, 20*time.Second)); !errors.Is(err, job.ErrExhausted) {
		t.Fatalf("Wait error = %v, want ErrExhausted", err)
	}
	attempts, _, _, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2, 3})
}

// A retry run by hand before its time (asynqmon's "Run") makes no attempt
// and is not archived, even on what asynq thinks is the last retry.
func TestRetryRunEarlyByHandWaitsItsTurn(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:early", job.MaxAttempts(2),
		job.Wait(wait.Constant(time.Minute)), job.Jitter(jitter.None))
	var c calls
	errs := make(chan error, 10)
	cfg := config(q)
	cfg.ErrorHandler = asynq.ErrorHandlerFunc(func(_ context.Context, _ *asynq.Task, err error) { errs <- err })
	startWorkerWith(t, redisOpt(t), cfg, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 100, plainFail)) })
	f, err := durable.Enqueue(context.Background(), newClient(t), kind, greet{"lu"}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !strings.HasPrefix(err.Error(), "durable: retry in 1m0s: fail 1") {
		t.Fatalf("first delivery's error %q, want a handoff after attempt 1", err)
	}
	in := newInspector(t)
	awaitState(t, in, q, f.ID(), asynq.TaskStateRetry) // the ErrorHandler runs before the move
	if err := in.RunTask(q, f.ID()); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !strings.HasPrefix(err.Error(), "durable: retry in 5") { // the rest of the minute
		t.Fatalf("early delivery's error %q, want a handoff of the rest of the minute", err)
	}
	// asynq calls the ErrorHandler before it moves the task: wait for Redis
	// to show the move.
	info := awaitState(t, in, q, f.ID(), asynq.TaskStateRetry)
	if info.Retried != 1 || time.Until(info.NextProcessAt) < 50*time.Second {
		t.Fatalf("after the early run: retry count %d, next run in %v; want 1, and the rest of the minute",
			info.Retried, time.Until(info.NextProcessAt))
	}
	if attempts, _, _, _ := c.snapshot(); len(attempts) != 1 {
		t.Fatalf("the handler ran %d times, want 1", len(attempts))
	}
	in.DeleteTask(q, f.ID())
}

// A delivery that its own Timeout ends is not the job's end: no verdict on
// the cut attempt (a RetryIf that rejects deadlines would make it final),
// no hook; the next delivery goes on.
func TestDeliveryTimeoutIsNotTheJobsEnd(t *testing.T) {
	q := queueName(t)
	var gaveUp atomic.Int32
	kind := durable.NewKind[greet, string]("test:timeout",
		job.Wait(wait.Constant(10*time.Millisecond)),
		job.RetryIf(func(err error) bool { return !errors.Is(err, context.DeadlineExceeded) }),
		job.OnGiveUp(func(job.Event) { gaveUp.Add(1) }))
	var c calls
	startWorker(t, q, func(w *durable.Worker) {
		durable.Handle(w, kind, func(ctx context.Context, g greet) (string, error) {
			call := c.begin(ctx)
			defer c.end()
			if call == 1 {
				<-ctx.Done() // the delivery's 1s Timeout
				return "", ctx.Err()
			}
			return "hello " + g.Name, nil
		})
	})
	f, err := durable.Enqueue(context.Background(), newClient(t), kind, greet{"max"}, asynq.Queue(q), asynq.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Wait(waitCtx(t, 20*time.Second)); err != nil || got != "hello max" {
		t.Fatalf("Wait = %q, %v; want the second delivery's success", got, err)
	}
	attempts, _, _, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2})
	if n := gaveUp.Load(); n != 0 {
		t.Fatalf("OnGiveUp fired %d times for a job that succeeded", n)
	}
}

func TestClosedClientEndsWait(t *testing.T) {
	q := queueName(t)
	cl := durable.NewClient(redisOpt(t))
	f, err := durable.Enqueue(context.Background(), cl, durable.NewKind[int, int]("test:closed"), 1, asynq.Queue(q), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(context.Background()); !errors.Is(err, durable.ErrClientClosed) {
		t.Fatalf("Wait on a closed client: %v, want ErrClientClosed", err)
	}
	newInspector(t).DeleteQueue(q, true)
}

func TestStartAfterShutdown(t *testing.T) {
	w := durable.NewWorker(redisOpt(t), config(queueName(t)))
	w.Shutdown()
	if err := w.Start(); !errors.Is(err, durable.ErrShutdown) {
		t.Fatalf("Start after Shutdown: %v, want ErrShutdown", err)
	}
}

// awaitState polls the task in Redis until it is in state (asynq moves
// tasks after the handler's hooks have run), for at most 10 seconds.
func awaitState(t *testing.T, in *asynq.Inspector, queue, id string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		info, err := in.GetTaskInfo(queue, id)
		if err == nil && info.State == state {
			return info
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("task %s: %+v, %v; want state %v within 10s", id, info, err, state)
		}
	}
}

// The enqueue time travels in a header, so asynq.Unique, which hashes the
// payload, still sees equal payloads as duplicates.
func TestUniqueSeesEqualPayloads(t *testing.T) {
	q := queueName(t)
	cl := newClient(t)
	kind := durable.NewKind[greet, string]("test:unique")
	if _, err := durable.Enqueue(context.Background(), cl, kind, greet{"nia"}, asynq.Queue(q), asynq.ProcessIn(time.Hour), asynq.Unique(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := durable.Enqueue(context.Background(), cl, kind, greet{"nia"}, asynq.Queue(q), asynq.ProcessIn(time.Hour), asynq.Unique(time.Hour))
	if !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("second Enqueue of an equal payload with Unique: %v, want asynq.ErrDuplicateTask", err)
	}
	newInspector(t).DeleteQueue(q, true)
}

// A task enqueued by plain asynq (the Kind's name, a JSON payload, no
// header) runs under the Kind's policy; its time counts from its first
// delivery.
func TestPlainAsynqTaskRuns(t *testing.T) {
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:plain", job.Wait(wait.Constant(time.Millisecond)))
	var c calls
	startWorker(t, q, func(w *durable.Worker) { durable.Handle(w, kind, failing(&c, 1, plainFail)) })
	raw := asynq.NewClient(redisOpt(t))
	defer raw.Close()
	info, err := raw.Enqueue(asynq.NewTask(kind.Name(), []byte(`{"Name":"oz"}`)), asynq.Queue(q), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := durable.FutureOf[string](newClient(t), q, info.ID).Wait(waitCtx(t, 10*time.Second))
	if err != nil || got != "hello oz" {
		t.Fatalf("Wait = %q, %v", got, err)
	}
	attempts, _, _, _ := c.snapshot()
	wantInts(t, "attempts seen", attempts, []int{1, 2})
}

// The last attempt cut short by its delivery's Timeout: the next delivery
// ends the task, fires OnGiveUp (the task made an attempt), and keeps what
// asynq saw of the cut attempt as the last error.
func TestCutLastAttemptGivesUpWithItsHook(t *testing.T) {
	q := queueName(t)
	gaveUp := make(chan job.Event, 2)
	kind := durable.NewKind[greet, string]("test:cutlast", job.MaxAttempts(1),
		job.OnGiveUp(func(e job.Event) { gaveUp <- e }))
	startWorker(t, q, func(w *durable.Worker) {
		durable.Handle(w, kind, func(ctx context.Context, g greet) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
	})
	f, err := durable.Enqueue(context.Background(), newClient(t), kind, greet{"pia"}, asynq.Queue(q), asynq.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 20*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrExhausted) || je.Attempts != 1 || je.Last == nil ||
		!strings.Contains(je.Last.Error(), "deadline exceeded") {
		t.Fatalf("Wait error = %v, want ErrExhausted after 1 attempt, last the cut attempt's deadline", err)
	}
	select {
	case e := <-gaveUp:
		if e.Attempt != 1 || e.Key != f.ID() || !errors.Is(e.Err, job.ErrExhausted) {
			t.Fatalf("OnGiveUp event %+v, want attempt 1, the task ID, ErrExhausted", e)
		}
	default:
		t.Fatal("OnGiveUp did not fire")
	}
}

// refuser is a proxy in front of the test Redis that refuses the next n
// writes of a task's result field (HSET <task> result ...), as a Redis in
// trouble would.
type refuser struct {
	n    atomic.Int32
	addr string
}

func newRefuser(t *testing.T) *refuser {
	r := &refuser{}
	r.addr = redistest.Proxy(t, redisOpt(t).Addr, func(cmd []string) bool {
		if len(cmd) < 3 || !strings.EqualFold(cmd[0], "HSET") || cmd[2] != "result" {
			return false
		}
		for {
			n := r.n.Load()
			if n <= 0 {
				return false
			}
			if r.n.CompareAndSwap(n, n-1) {
				return true
			}
		}
	})
	return r
}

func (r *refuser) opt() asynq.RedisClientOpt { return asynq.RedisClientOpt{Addr: r.addr, DB: 1} }

// An outcome Redis refuses to record is not an outcome: the worker tries
// for a while, then the task goes back to asynq marked, and the next
// delivery runs that attempt again without counting it, so a success on the
// last attempt does not become ErrExhausted. With refuse 6 the next
// delivery's own record of the re-run is refused too: it keeps the mark,
// and the delivery after it runs the attempt.
func TestRefusedOutcomeRunsTheAttemptAgain(t *testing.T) {
	for _, refuse := range []int32{5, 6} {
		t.Run(fmt.Sprintf("refuse %d", refuse), func(t *testing.T) {
			r := newRefuser(t)
			q := queueName(t)
			kind := durable.NewKind[greet, string]("test:refused", job.MaxAttempts(2), job.Wait(wait.Constant(time.Millisecond)))
			var c calls
			startWorkerWith(t, r.opt(), config(q), func(w *durable.Worker) {
				durable.Handle(w, kind, func(ctx context.Context, g greet) (string, error) {
					call := c.begin(ctx)
					defer c.end()
					switch call {
					case 1:
						return "", errors.New("fail 1")
					case 2:
						r.n.Store(refuse) // the success cannot be recorded: 5 tries
					}
					return "hello " + g.Name, nil
				})
			})
			cl := durable.NewClient(r.opt(), durable.PollEvery(20*time.Millisecond))
			t.Cleanup(func() { cl.Close() })
			f, err := durable.Enqueue(context.Background(), cl, kind, greet{"quin"}, asynq.Queue(q))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f.Wait(waitCtx(t, 30*time.Second)); err != nil || got != "hello quin" {
				t.Fatalf("Wait = %q, %v; want the success of attempt 2, run again", got, err)
			}
			attempts, _, _, _ := c.snapshot()
			wantInts(t, "attempts seen", attempts, []int{1, 2, 2})
			if n := r.n.Load(); n != 0 {
				t.Fatalf("%d refusals unused: the worker wrote less than expected", n)
			}
		})
	}
}

// A delivery that ends a task without an attempt of its own (the attempts
// were used up before) and cannot record that has nothing to run again: the
// next delivery gives up too. The handler runs once in all.
func TestRefusedGiveUpWithoutAttemptRunsNothing(t *testing.T) {
	r := newRefuser(t)
	q := queueName(t)
	kind := durable.NewKind[greet, string]("test:refusedgiveup", job.MaxAttempts(1))
	var c calls
	startWorkerWith(t, r.opt(), config(q), func(w *durable.Worker) {
		durable.Handle(w, kind, func(ctx context.Context, g greet) (string, error) {
			c.begin(ctx)
			defer c.end()
			r.n.Store(5) // the next delivery's give-up cannot be recorded
			<-ctx.Done() // cut by the delivery's Timeout: counted, not judged
			return "", ctx.Err()
		})
	})
	cl := durable.NewClient(r.opt(), durable.PollEvery(20*time.Millisecond))
	t.Cleanup(func() { cl.Close() })
	f, err := durable.Enqueue(context.Background(), cl, kind, greet{"rey"}, asynq.Queue(q), asynq.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Wait(waitCtx(t, 30*time.Second))
	var je *job.Error
	if !errors.As(err, &je) || !errors.Is(err, job.ErrExhausted) || je.Attempts != 1 {
		t.Fatalf("Wait error = %v, want ErrExhausted after 1 attempt", err)
	}
	if attempts, _, _, _ := c.snapshot(); len(attempts) != 1 {
		t.Fatalf("the handler ran %d times, want 1", len(attempts))
	}
}
