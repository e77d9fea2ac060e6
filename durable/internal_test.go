package durable

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// The worker's RetryDelayFunc: a handed-off retry waits what the delivery
// decided; a retry asynq starts on its own (a lost lease) waits what the
// Kind's policy says; other task types keep the configured function.
func TestRetryDelay(t *testing.T) {
	w := NewWorker(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, asynq.Config{
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 42 * time.Second },
	})
	defer w.Shutdown()
	k := NewKind[int, int]("k", job.Wait(wait.Linear(time.Second, time.Second, time.Minute)), job.Jitter(jitter.None), job.MaxAttempts(5))
	Handle(w, k, func(ctx context.Context, v int) (int, error) { return v, nil })

	task := asynq.NewTask("k", nil)
	if d := w.retryDelay(3, &handoff{wait: 1500 * time.Millisecond}, task); d != 1500*time.Millisecond {
		t.Errorf("handoff: %v, want 1.5s", d)
	}
	lost := errors.New("asynq: task lease expired")
	if d := w.retryDelay(1, lost, task); d != 2*time.Second {
		t.Errorf("a lost lease after 2 deliveries: %v, want the policy's delay before retry 2, 2s", d)
	}
	if d := w.retryDelay(4, lost, task); d != 0 {
		t.Errorf("a lost lease after the last attempt: %v, want 0 (the next delivery ends the task)", d)
	}
	if d := w.retryDelay(1, lost, asynq.NewTask("other", nil)); d != 42*time.Second {
		t.Errorf("another task type: %v, want the configured function's 42s", d)
	}
}

// Any bytes as a payload or a result field: an error or a value, never a
// panic; what encodePayload writes decodes to what it was given; a Future
// reports success only for a success record.
func FuzzDecode(f *testing.F) {
	good, _ := encodePayload(greeting{Name: "ada", N: 3})
	f.Add(good)
	f.Add([]byte(`{"Name":"x","N":1e400}`))
	f.Add([]byte(`{"done":true,"value":{"Name":"y"}}`))
	f.Add([]byte(`{"done":true,"reason":"exhausted","attempts":-1}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := decodePayload[greeting](b); err == nil {
			again, err := encodePayload(p)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", p, err)
			}
			if p2, err := decodePayload[greeting](again); err != nil || p2 != p {
				t.Fatalf("round trip of %+v: %+v, %v", p, p2, err)
			}
		}
		_, _ = decodePayload[panicky](b)
		// As a task's result field, in any state: an outcome or an error,
		// never a panic; a success only from a success record; a final
		// state always ends the wait.
		for _, state := range []asynq.TaskState{asynq.TaskStateCompleted, asynq.TaskStateArchived, asynq.TaskStateActive} {
			v, done, err := outcome[greeting](&asynq.TaskInfo{State: state, Result: b})
			if !done && state != asynq.TaskStateActive {
				t.Fatalf("a task in state %v is not done", state)
			}
			var rec record
			if done && err == nil && (json.Unmarshal(b, &rec) != nil || !rec.Done || rec.Reason != "") {
				t.Fatalf("success %+v from a result field that is no success record: %q", v, b)
			}
		}
	})
}

type greeting struct {
	Name string
	N    int
}

// panicky's UnmarshalJSON panics: decoding it must not.
type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error { panic("boom") }

// A Future reads the outcome from the task's state and record.
func TestOutcome(t *testing.T) {
	rec := func(r record) []byte { b, _ := json.Marshal(r); return b }
	for _, tc := range []struct {
		name    string
		info    asynq.TaskInfo
		done    bool
		value   int
		reason  error
		last    string
		attempt int
	}{
		{name: "pending", info: asynq.TaskInfo{State: asynq.TaskStatePending}},
		{name: "retry, with progress", info: asynq.TaskInfo{State: asynq.TaskStateRetry, Result: rec(record{Attempts: 2})}},
		{name: "completed", info: asynq.TaskInfo{State: asynq.TaskStateCompleted, Result: rec(record{Done: true, Value: []byte("42"), Attempts: 1})},
			done: true, value: 42},
		{name: "archived after a recorded success", info: asynq.TaskInfo{State: asynq.TaskStateArchived, Result: rec(record{Done: true, Value: []byte("7")})},
			done: true, value: 7},
		{name: "archived, recorded failure", info: asynq.TaskInfo{State: asynq.TaskStateArchived,
			Result: rec(record{Done: true, Reason: "deadline", Err: "boom", Attempts: 3})},
			done: true, reason: job.ErrDeadline, last: "boom", attempt: 3},
		{name: "archived by asynq, progress only", info: asynq.TaskInfo{State: asynq.TaskStateArchived, LastErr: "asynq: task lease expired",
			Result: rec(record{Attempts: 4, Err: "boom"})},
			done: true, reason: job.ErrExhausted, last: "asynq: task lease expired", attempt: 4},
		{name: "completed without a record", info: asynq.TaskInfo{State: asynq.TaskStateCompleted}, done: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, done, err := outcome[int](&tc.info)
			if done != tc.done || v != tc.value {
				t.Fatalf("outcome = %d, done %v, %v; want %d, done %v", v, done, err, tc.value, tc.done)
			}
			if tc.reason == nil {
				if tc.name == "completed without a record" {
					if err == nil {
						t.Fatal("no error for a completed task without a durable record")
					}
					return
				}
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var je *job.Error
			if !errors.As(err, &je) || !errors.Is(err, tc.reason) || je.Last == nil || je.Last.Error() != tc.last || je.Attempts != tc.attempt {
				t.Fatalf("err = %v, want %v after %d attempts, last %q", err, tc.reason, tc.attempt, tc.last)
			}
		})
	}
}

// Where a delivery takes up a task: the attempts recorded, less one whose
// outcome was lost (when the record that the marker names is still in
// place); the last error from the record, or from asynq when it counted a
// failure after the record was written (the attempt was cut short).
func TestResumePoint(t *testing.T) {
	lost := marker(0xab) + ": task x: succeeded on attempt 2: redis down"
	for _, tc := range []struct {
		name     string
		prev     record
		lastErr  string
		retried  int
		attempts int
		last     string
		carry    int64
	}{
		{"first delivery", record{}, "", 0, 0, "", 0},
		{"after a handoff", record{Attempts: 2, Err: "fail 2", Due: 1, Delivery: 0}, "durable: retry in 1s: fail 2", 1, 2, "fail 2", 0},
		{"after a cut attempt", record{Attempts: 3, Err: "fail 2", Delivery: 1, Token: 5}, "asynq: task lease expired", 2, 3, "asynq: task lease expired", 0},
		{"after a requeue: asynq's error is stale", record{Attempts: 3, Err: "fail 2", Delivery: 1, Token: 5}, "context deadline exceeded", 1, 3, "fail 2", 0},
		{"after an early delivery", record{Attempts: 1, Err: "fail 1", Due: 1}, "durable: retry in 30s", 1, 1, "fail 1", 0},
		{"after a lost outcome", record{Attempts: 2, Err: "fail 1", Token: 0xab}, lost, 0, 1, "fail 1", 0xab},
		{"a marker for a record since replaced", record{Attempts: 2, Err: "fail 1", Token: 0xcd}, lost, 0, 2, "fail 1", 0},
		{"a marker and a record without a token", record{Attempts: 2, Err: "fail 1"}, lost, 0, 2, "fail 1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempts, carry, last := resumePoint(tc.prev, tc.lastErr, tc.retried)
			got := ""
			if last != nil {
				got = last.Error()
			}
			if attempts != tc.attempts || got != tc.last || carry != tc.carry {
				t.Fatalf("resumePoint = %d, %q, %x; want %d, %q, %x", attempts, got, carry, tc.attempts, tc.last, tc.carry)
			}
		})
	}
}
