package durable

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/rebound-go/rebound/internal/core"
	"github.com/rebound-go/rebound/job"
)

// Kind is a durable job's type: its asynq type name, its payload type P and
// result type R (both JSON), and its retry policy. Define each Kind once, in
// a package both producers and workers import. A Kind is immutable and safe
// for concurrent use.
type Kind[P, R any] struct {
	name     string
	policy   *core.Policy
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
	r := core.Resolve(core.Default, opts)
	switch {
	case r.Key != "":
		panic("durable: NewKind(" + name + ") with job.Key: a durable task's key is its task ID")
	case r.Clock != nil:
		panic("durable: NewKind(" + name + ") with job.Clock: durable tasks run on the workers' real clocks")
	case r.Rand != nil:
		panic("durable: NewKind(" + name + ") with job.Rand: a Kind is shared by every worker's goroutines")
	}
	core.CheckResult[R](r.Policy)
	k := &Kind[P, R]{name: name, policy: r.Policy, maxRetry: math.MaxInt32}
	if n := r.Policy.MaxAttempts; n > 0 && n < math.MaxInt32/2 {
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

// envelope is a durable task's payload: the caller's, plus what the policy
// needs that asynq does not keep.
type envelope struct {
	V   int             `json:"v"`
	Enq int64           `json:"enq"` // enqueue time, Unix nanoseconds (the producer's clock)
	P   json.RawMessage `json:"p"`
}

const envelopeVersion = 1

func encodePayload[P any](p P, now time.Time) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("durable: encoding the payload: %w", err)
	}
	return json.Marshal(envelope{V: envelopeVersion, Enq: now.UnixNano(), P: b})
}

func decodePayload[P any](b []byte) (p P, enq time.Time, err error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return p, enq, fmt.Errorf("durable: payload is not a durable envelope: %w", err)
	}
	if env.V != envelopeVersion {
		return p, enq, fmt.Errorf("durable: payload envelope version %d, want %d", env.V, envelopeVersion)
	}
	if err := json.Unmarshal(env.P, &p); err != nil {
		return p, enq, fmt.Errorf("durable: decoding the payload: %w", err)
	}
	return p, time.Unix(0, env.Enq), nil
}

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
	Delivery int             `json:"delivery"`       // asynq's retry count when written
	Prev     time.Duration   `json:"prev,omitempty"` // the last base delay
	Due      int64           `json:"due,omitempty"`  // Unix ns: the next attempt's earliest start
}

// reasons name the sentinels a record can carry.
var reasons = map[string]error{
	"exhausted": core.ErrExhausted,
	"deadline":  core.ErrDeadline,
	"permanent": core.ErrPermanent,
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
