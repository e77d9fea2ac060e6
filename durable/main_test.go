package durable_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/durable"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisOpt returns the test Redis: REBOUND_REDIS_ADDR, else a server on
// 127.0.0.1:6379. Without one the test is skipped, unless CI is set: in CI
// the Redis tests must run. Database 1 is this package's.
func redisOpt(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	addr := os.Getenv("REBOUND_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and no Redis answers at %s (REBOUND_REDIS_ADDR): %v", addr, err)
		}
		t.Skipf("no Redis at %s (set REBOUND_REDIS_ADDR; .ci/run starts one): %v", addr, err)
	}
	conn.Close()
	return asynq.RedisClientOpt{Addr: addr, DB: 1}
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
	w := durable.NewWorker(redisOpt(t), config(queue), opts...)
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
