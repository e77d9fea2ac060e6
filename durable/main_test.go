package durable_test

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/durable"
	"github.com/rebound-go/rebound/durable/redistest"
)

// TestMain runs the tests against a Redis (see redistest): REBOUND_REDIS_ADDR,
// or a redis-server of this binary's own.
func TestMain(m *testing.M) { goleak.VerifyTestMain(redistest.WithServer(m, "durable")) }

// redisOpt returns the test Redis (see redistest.Addr); database 1 is this
// package's.
func redisOpt(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	return asynq.RedisClientOpt{Addr: redistest.Addr(t), DB: 1}
}

// queueName returns a queue of the test's own, so tests never see each
// other's tasks.
func queueName(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return name + "-" + hex.EncodeToString(b[:])
}

// config is a test server's: one queue, quick polling, quiet logs.
func config(queue string) asynq.Config {
	return asynq.Config{
		Concurrency:              4,
		Queues:                   map[string]int{queue: 1},
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          2 * time.Second,
		LogLevel:                 asynq.FatalLevel,
	}
}

// startWorker starts a worker on queue after register adds its handlers;
// the test's cleanup shuts it down.
func startWorker(t testing.TB, queue string, register func(*durable.Worker), opts ...durable.WorkerOption) *durable.Worker {
	t.Helper()
	return startWorkerWith(t, redisOpt(t), config(queue), register, opts...)
}

// startWorkerWith is startWorker on the Redis at redis, configured by cfg.
func startWorkerWith(t testing.TB, redis asynq.RedisClientOpt, cfg asynq.Config, register func(*durable.Worker), opts ...durable.WorkerOption) *durable.Worker {
	t.Helper()
	w := durable.NewWorker(redis, cfg, opts...)
	register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(w.Shutdown)
	return w
}

func newClient(t testing.TB) *durable.Client {
	t.Helper()
	c := durable.NewClient(redisOpt(t), durable.PollEvery(20*time.Millisecond))
	t.Cleanup(func() { c.Close() })
	return c
}

func newInspector(t testing.TB) *asynq.Inspector {
	t.Helper()
	in := asynq.NewInspector(redisOpt(t))
	t.Cleanup(func() { in.Close() })
	return in
}
