package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/job"
)

// Defaults of a Client.
const (
	DefaultKeepResults = 24 * time.Hour
	DefaultPollEvery   = 250 * time.Millisecond
)

// Errors of a Future.
var (
	// ErrNotFound: the task is not in Redis (never enqueued, deleted, or
	// kept past its retention).
	ErrNotFound = errors.New("durable: task not found")
	// ErrClientClosed: the Future's Client was closed.
	ErrClientClosed = errors.New("durable: client closed")
)

// Client enqueues durable tasks and follows their outcome. It is safe for
// concurrent use.
type Client struct {
	c      *asynq.Client
	insp   *asynq.Inspector
	keep   time.Duration
	poll   time.Duration
	closed atomic.Bool
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// KeepResults sets how long a completed task (and its result) stays in Redis
// for its Future (asynq's Retention, in whole seconds; default
// DefaultKeepResults). Archived tasks follow asynq's archive limits. It
// panics if d is under a second.
func KeepResults(d time.Duration) ClientOption {
	if d < time.Second {
		panic(fmt.Sprintf("durable: KeepResults(%v): under a second (asynq keeps whole seconds)", d))
	}
	return func(c *Client) { c.keep = d }
}

// PollEvery sets the longest interval between a Future's looks at its task
// (default DefaultPollEvery); Wait starts at a tenth of it and backs off. It
// panics if d is not positive.
func PollEvery(d time.Duration) ClientOption {
	if d <= 0 {
		panic(fmt.Sprintf("durable: PollEvery(%v): not positive", d))
	}
	return func(c *Client) { c.poll = d }
}

// NewClient returns a client of the Redis at redis. It panics if redis is nil.
func NewClient(redis asynq.RedisConnOpt, opts ...ClientOption) *Client {
	if redis == nil {
		panic("durable: NewClient with a nil Redis connection option")
	}
	c := &Client{c: asynq.NewClient(redis), insp: asynq.NewInspector(redis), keep: DefaultKeepResults, poll: DefaultPollEvery}
	for _, o := range opts {
		if o == nil {
			panic("durable: NewClient with a nil ClientOption")
		}
		o(c)
	}
	return c
}

// Close closes the client's connections; its Futures' Wait then returns
// ErrClientClosed. Later calls do nothing.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return errors.Join(c.c.Close(), c.insp.Close())
}

// Enqueue stores a task of k with payload p and returns its Future. opts
// are asynq's (Queue, TaskID, ProcessIn, Timeout, Unique, ...), applied
// after the client's Retention. The Kind's policy sets MaxRetry and bounds
// the task's time (job.MaxElapsed), so opts may hold neither asynq.MaxRetry
// nor asynq.Deadline; asynq.Timeout bounds each delivery. With
// asynq.TaskID, enqueueing an ID twice fails with asynq.ErrTaskIDConflict:
// the producer's own idempotency key. It panics if ctx, c or k is nil or
// opts hold a nil, an asynq.MaxRetry, an asynq.Deadline, an asynq.Group, or
// an asynq.Retention under a second.
func Enqueue[P, R any](ctx context.Context, c *Client, k *Kind[P, R], p P, opts ...asynq.Option) (*Future[R], error) {
	switch {
	case ctx == nil:
		panic("durable: Enqueue with a nil context")
	case c == nil:
		panic("durable: Enqueue on a nil Client")
	case k == nil:
		panic("durable: Enqueue of a nil Kind")
	}
	all := make([]asynq.Option, 0, len(opts)+2)
	all = append(all, asynq.MaxRetry(k.maxRetry), asynq.Retention(c.keep))
	for _, o := range opts {
		if o == nil {
			panic("durable: Enqueue(" + k.name + ") with a nil asynq.Option")
		}
		switch o.Type() {
		case asynq.MaxRetryOpt:
			panic("durable: Enqueue(" + k.name + ") with asynq.MaxRetry: the Kind's policy (job.MaxAttempts) sets it")
		case asynq.DeadlineOpt:
			panic("durable: Enqueue(" + k.name + ") with asynq.Deadline: use job.MaxElapsed for the task, asynq.Timeout for a delivery")
		case asynq.GroupOpt:
			panic("durable: Enqueue(" + k.name + ") with asynq.Group: grouped tasks go to an aggregator, not to the Kind's handler")
		case asynq.RetentionOpt:
			if d, _ := o.Value().(time.Duration); d < time.Second {
				panic(fmt.Sprintf("durable: Enqueue(%s) with asynq.Retention(%v): under a second keeps no result for the Future", k.name, d))
			}
		}
		all = append(all, o)
	}
	b, err := encodePayload(p)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{enqueuedHeader: strconv.FormatInt(time.Now().UnixNano(), 10)}
	info, err := c.c.EnqueueContext(ctx, asynq.NewTaskWithHeaders(k.name, b, headers), all...)
	if err != nil {
		return nil, fmt.Errorf("durable: enqueueing %s: %w", k.name, err)
	}
	return &Future[R]{c: c, queue: info.Queue, id: info.ID}, nil
}

// Future is the outcome of a durable task, found by its queue and ID; any
// process with a Client can follow it.
type Future[R any] struct {
	c         *Client
	queue, id string
}

// FutureOf returns the Future of the task id in queue, whose Kind has
// result type R. It panics if c is nil or queue or id is empty.
func FutureOf[R any](c *Client, queue, id string) *Future[R] {
	switch {
	case c == nil:
		panic("durable: FutureOf on a nil Client")
	case queue == "" || id == "":
		panic(fmt.Sprintf("durable: FutureOf(%q, %q): empty queue or task ID", queue, id))
	}
	return &Future[R]{c: c, queue: queue, id: id}
}

// ID returns the task's ID: the idempotency key of its effects.
func (f *Future[R]) ID() string { return f.id }

// Queue returns the task's queue.
func (f *Future[R]) Queue() string { return f.queue }

// Wait polls the task until it ends or ctx ends. It returns the handler's
// value, or a *job.Error (Reason job.ErrExhausted, job.ErrDeadline or
// job.ErrPermanent; Last a *RemoteError, or nil if no attempt failed), or
// an error wrapping ErrNotFound or ErrClientClosed, or ctx's cause (joined
// with the last polling error, while Redis fails). Waiting does not affect
// the task.
func (f *Future[R]) Wait(ctx context.Context) (R, error) {
	var zero R
	if ctx == nil {
		panic("durable: Future.Wait with a nil context")
	}
	interval := max(f.c.poll/10, time.Millisecond)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		v, done, perr := f.poll()
		if done {
			return v, perr
		}
		if timer == nil {
			timer = time.NewTimer(interval)
		} else {
			timer.Reset(interval)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			if perr != nil {
				return zero, errors.Join(context.Cause(ctx), perr)
			}
			return zero, context.Cause(ctx)
		}
		interval = min(interval*2, f.c.poll)
	}
}

// poll looks at the task once. done: the task ended (or cannot be found).
func (f *Future[R]) poll() (v R, done bool, err error) {
	if f.c.closed.Load() {
		return v, true, ErrClientClosed
	}
	info, err := f.c.insp.GetTaskInfo(f.queue, f.id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return v, true, fmt.Errorf("durable: task %s in queue %q: %w", f.id, f.queue, ErrNotFound)
	case err != nil:
		return v, false, err // Redis trouble: keep trying
	}
	return outcome[R](info)
}

// outcome reads a task's outcome from its state and record. A recorded
// outcome counts in any state: a worker may die between recording it and
// telling asynq, and the task then waits for lease recovery in vain.
func outcome[R any](info *asynq.TaskInfo) (v R, done bool, err error) {
	final := info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived
	var rec record
	if len(info.Result) > 0 {
		if err := json.Unmarshal(info.Result, &rec); err != nil {
			return v, final, fmt.Errorf("durable: task %s's result is not a durable record: %w", info.ID, err)
		}
	}
	if !final && !rec.Done {
		return v, false, nil
	}
	switch {
	case rec.Done && rec.Reason == "":
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			return v, true, fmt.Errorf("durable: decoding task %s's result: %w", info.ID, err)
		}
		return v, true, nil
	case info.State == asynq.TaskStateCompleted:
		return v, true, fmt.Errorf("durable: task %s completed without a durable result (not run by durable.Handle?)", info.ID)
	case rec.Done:
		reason := reasons[rec.Reason]
		if reason == nil {
			reason = job.ErrPermanent
		}
		var last error
		if rec.Err != "" {
			last = &RemoteError{Msg: rec.Err}
		}
		return v, true, &job.Error{Reason: reason, Last: last, Attempts: rec.Attempts, Elapsed: rec.Elapsed}
	default:
		// Archived by asynq itself (its MaxRetry backstop, or by hand):
		// the record holds the last progress.
		msg := info.LastErr
		if msg == "" {
			msg = rec.Err
		}
		var last error
		if msg != "" {
			last = &RemoteError{Msg: msg}
		}
		return v, true, &job.Error{Reason: job.ErrExhausted, Last: last, Attempts: rec.Attempts}
	}
}
