package durable

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/rebound-go/rebound/job"
)

// Kind is a durable job's type: its asynq type name, its payload type P and
// result type R (both JSON), and its retry policy. Define each Kind once, in
// a package both producers and workers import. A Kind is immutable and safe
// for concurrent use.
type Kind[P, R any] struct {
	name     string
	policy   *job.Policy
	maxRetry int // asynq's MaxRetry: a backstop, not the bound (see NewKind)
}

// NewKind returns the Kind named name (asynq's task type) whose tasks carry
// a P, return an R and retry under opts, applied left to right over job's
// defaults. It panics if name is empty, if an option is job.Key, job.Clock
// or job.Rand (a durable task's key is its ID; a Kind is shared by every
// worker), or if a RetryOnResult predicate is for another type than R.
func NewKind[P, R any](name string, opts ...job.Option) *Kind[P, R] {
	if name == "" {
		panic("durable: NewKind with an empty name")
	}
	r := job.Configure(nil, opts...)
	switch {
	case r.Key != "":
		panic("durable: NewKind(" + name + ") with job.Key: a durable task's key is its task ID")
	case r.Clock != nil:
		panic("durable: NewKind(" + name + ") with job.Clock: durable tasks run on the workers' real clocks")
	case r.Rand != nil:
		panic("durable: NewKind(" + name + ") with job.Rand: a Kind is shared by every worker's goroutines")
	}
	job.CheckResult[R](r.Policy)
	k := &Kind[P, R]{name: name, policy: r.Policy, maxRetry: math.MaxInt32}
	if n := r.Policy.MaxAttempts(); n > 0 && n < math.MaxInt32/2 {
		// The worker counts attempts and ends the task itself. asynq counts
		// the deliveries that failed after an attempt (at most one per
		// attempt), plus, rarely, one that its own deadline or a lost lease
		// ended before the attempt: twice the attempts is a backstop that
		// the policy always reaches first.
		k.maxRetry = 2 * n
	}
	return k
}

// Name returns the Kind's asynq task type.
func (k *Kind[P, R]) Name() string { return k.name }

// enqueuedHeader is the task header that carries the enqueue time (Unix
// nanoseconds, the producer's clock). A header, not part of the payload: the
// payload stays the caller's JSON, and asynq.Unique (which hashes the
// payload) still sees equal payloads as equal.
const enqueuedHeader = "rebound-enqueued"

func encodePayload[P any](p P) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("durable: encoding the payload: %w", err)
	}
	return b, nil
}

// decodePayload decodes a task's payload; a panicking UnmarshalJSON is an
// error like any other.
func decodePayload[P any](b []byte) (p P, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("durable: decoding the payload panicked: %v", v)
		}
	}()
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("durable: decoding the payload: %w", err)
	}
	return p, nil
}

// enqueued reads the enqueue time from a task's headers.
func enqueued(h map[string]string) (time.Time, bool) {
	ns, err := strconv.ParseInt(h[enqueuedHeader], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

const recordVersion = 1

// record is what a worker keeps in a task's result field: the task's
// progress between deliveries, then its outcome.
type record struct {
	V        int             `json:"v"`
	Done     bool            `json:"done,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`  // Done, success
	Reason   string          `json:"reason,omitempty"` // Done, failure: see reasons
	Err      string          `json:"err,omitempty"`    // Done, failure: the last error's text
	Attempts int             `json:"attempts"`         // attempts started, this one included
	Elapsed  time.Duration   `json:"elapsed,omitempty"`
	Delivery int             `json:"delivery"`        // asynq's retry count when written
	Start    int64           `json:"start,omitempty"` // Unix ns: when MaxElapsed counts from
	Token    int64           `json:"token,omitempty"` // names a record written before an attempt
	Prev     time.Duration   `json:"prev,omitempty"`  // the last base delay
	Due      int64           `json:"due,omitempty"`   // Unix ns: the next attempt's earliest start
}

// reasons name the sentinels a record can carry.
var reasons = map[string]error{
	"exhausted": job.ErrExhausted,
	"deadline":  job.ErrDeadline,
	"permanent": job.ErrPermanent,
}

func reasonName(err error) string {
	for name, r := range reasons {
		if err == r {
			return name
		}
	}
	return "permanent"
}

// RemoteError is the last attempt's error of a durable task, as the worker
// reported it: its text only.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
