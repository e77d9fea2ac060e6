package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/durable"
	"github.com/rebound-go/rebound/durable/redistest"
)

// childEnv makes the test binary a worker process of this command, with
// its arguments in childArgs: the crash test's workers.
const (
	childEnv  = "DURABLE_EXAMPLE_CHILD"
	childArgs = "DURABLE_EXAMPLE_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Fields(os.Getenv(childArgs)), os.Stdout)
		stop()
		os.Exit(code)
	}
	// The Redis tests run against REBOUND_REDIS_ADDR, or a redis-server of
	// this binary's own (see redistest); the child above never starts one.
	goleak.VerifyTestMain(redistest.WithServer(m, "examples/durable"))
}

// redisAddr returns the test Redis (see redistest.Addr).
func redisAddr(t *testing.T) string { return redistest.Addr(t) }

// The example's database; durable's tests use 1.
const db = 2

func queueName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "example-" + hex.EncodeToString(b[:])
}

// syncBuffer is a writer for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The producer enqueues first and a worker starts later: tasks wait in
// Redis. Every receipt ends; the ones with a bad address give up at once;
// every sent receipt is in the outbox exactly once.
func TestProduceThenWork(t *testing.T) {
	addr, q, outbox := redisAddr(t), queueName(), t.TempDir()
	common := []string{"-redis", addr, "-db", fmt.Sprint(db), "-queue", q}

	var produced syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), append([]string{"produce", "-n", "20"}, common...), &produced)
	}()

	ctx, stop := context.WithCancel(context.Background())
	var worked syncBuffer
	workerDone := make(chan int, 1)
	go func() {
		workerDone <- run(ctx, append([]string{"worker", "-outbox", outbox}, common...), &worked)
	}()
	code := <-done
	stop()
	if wc := <-workerDone; code != 0 || wc != 0 {
		t.Fatalf("produce exited %d, worker %d\nproduce:\n%s\nworker:\n%s", code, wc, produced.String(), worked.String())
	}
	out := produced.String()
	for _, want := range []string{
		"receipts:   20\n",
		"  sent:     18 (9 after a retry, 0 found already sent)\n", // 503s on 3,6,9,12,18; 429s on 5,10,15,20
		"  gave up:  2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("produce output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "gave up: job: permanent error after 1 attempt"); n != 2 {
		t.Errorf("%d receipts gave up as permanent after 1 attempt, want 2 (orders 7 and 14):\n%s", n, out)
	}
	files, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if err != nil || len(files) != 18 {
		t.Fatalf("outbox holds %d receipts (%v), want 18", len(files), err)
	}
	for _, m := range regexp.MustCompile(`task=(\S+) sent on`).FindAllStringSubmatch(out, -1) {
		if _, err := os.Stat(filepath.Join(outbox, m[1]+".eml")); err != nil {
			t.Errorf("sent task %s has no outbox file: %v", m[1], err)
		}
	}
}

// child is a worker process of this command.
type child struct {
	cmd   *exec.Cmd
	lines chan string
	out   syncBuffer
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), lines: make(chan string, 1000)}
	c.cmd.Env = append(os.Environ(), childEnv+"=1", childArgs+"="+strings.Join(args, " "))
	c.cmd.Stderr = &c.out
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A test that fails early leaves no worker behind.
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			for range c.lines {
			}
			_ = c.cmd.Wait()
		}
	})
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.out.Write([]byte(sc.Text() + "\n"))
			c.lines <- sc.Text()
		}
	}()
	return c
}

// await returns the first line of the child's output with the prefix.
func (c *child) await(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("worker exited before printing %q:\n%s", prefix, c.out.String())
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q from the worker in %v:\n%s", prefix, within, c.out.String())
		}
	}
}

// A worker process is killed with SIGKILL in the middle of a task, after
// the task's effect. Another worker process picks the task up once the
// lease has expired, runs it again (at-least-once), finds the effect by the
// task ID and completes the task without repeating it.
func TestCrashedWorkerTaskIsRecovered(t *testing.T) {
	addr, q, outbox := redisAddr(t), queueName(), t.TempDir()
	common := []string{"-redis", addr, "-db", fmt.Sprint(db), "-queue", q, "-outbox", outbox}

	a := startChild(t, append([]string{"worker", "-stall"}, common...)...)
	c := durable.NewClient(asynq.RedisClientOpt{Addr: addr, DB: db}, durable.PollEvery(100*time.Millisecond))
	defer c.Close()
	f, err := durable.Enqueue(context.Background(), c, SendReceipt, Receipt{Order: "A-001", Email: "ada@example.com", Cents: 1999}, asynq.Queue(q))
	if err != nil {
		t.Fatal(err)
	}
	a.await(t, "stalled task="+f.ID(), 30*time.Second)
	if err := a.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no lease released
		t.Fatal(err)
	}
	for range a.lines { // until the pipe's end: read it all before Wait closes it
	}
	_ = a.cmd.Wait()
	killed := time.Now()

	b := startChild(t, append([]string{"worker"}, common...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := f.Wait(ctx)
	recovered := time.Since(killed)
	if err != nil {
		t.Fatalf("Wait after the crash: %v\nworker b:\n%s", err, b.out.String())
	}
	if s.Attempt != 2 || !s.Again {
		t.Errorf("result %+v, want attempt 2 finding the receipt already sent", s)
	}
	b.await(t, "skip task="+f.ID(), 10*time.Second)
	files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if len(files) != 1 || filepath.Base(files[0]) != f.ID()+".eml" {
		t.Errorf("outbox %v, want exactly %s.eml: the effect happened once", files, f.ID())
	}
	runs := strings.Count(a.out.String()+b.out.String(), "run task="+f.ID())
	if runs != 2 {
		t.Errorf("the handler ran %d times, want 2 (at-least-once: once in the killed worker, once after)", runs)
	}
	t.Logf("task recovered and completed %v after the SIGKILL (asynq: 30s lease, 30s grace, recoverer every minute)", recovered.Round(time.Second))

	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range b.lines {
	}
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("worker b after SIGTERM: %v\n%s", err, b.out.String())
	}
	if !strings.Contains(b.out.String(), "stopped") {
		t.Errorf("worker b did not stop cleanly:\n%s", b.out.String())
	}
}
