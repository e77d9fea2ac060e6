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
// panic; what encodePayload writes decodes to what it was given.
func FuzzDecode(f *testing.F) {
	good, _ := encodePayload(greeting{Name: "ada", N: 3}, time.Unix(0, 42))
	f.Add(good)
	f.Add([]byte(`{"v":1,"enq":1,"p":null}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"done":true,"reason":"exhausted","attempts":-1}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, enq, err := decodePayload[greeting](b); err == nil {
			again, err := encodePayload(p, enq)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", p, err)
			}
			p2, enq2, err := decodePayload[greeting](again)
			if err != nil || p2 != p || !enq2.Equal(enq) {
				t.Fatalf("round trip of %+v at %v: %+v at %v, %v", p, enq, p2, enq2, err)
			}
		}
		var rec record
		_ = json.Unmarshal(b, &rec)
		_ = reasonName(reasons[rec.Reason])
	})
}

type greeting struct {
	Name string
	N    int
}
