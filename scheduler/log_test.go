package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// syncBuffer is a bytes.Buffer safe for the workers' concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// logLines runs, in a synctest bubble, on a scheduler made with opts, one
// job of key "api" that fails once and then succeeds (a retry after 1s)
// and one that gives up after one attempt, and returns the log lines.
func logLines(t *testing.T, buf fmt.Stringer, opts ...scheduler.Option) []string {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(append([]scheduler.Option{scheduler.WithWorkers(1)}, opts...)...)
		defer s.Close()
		f := s.Go(context.Background(), func(ctx context.Context) error {
			if job.AttemptFrom(ctx) == 1 {
				return errors.New("boom: GET https://bob:hunter2@api.example/x")
			}
			return nil
		}, constant(time.Second), job.Key("api"))
		if _, err := await(t, f); err != nil {
			t.Fatalf("retried job: %v", err)
		}
		g := s.Go(context.Background(), func(context.Context) error { return errBoom }, job.MaxAttempts(1), job.Key("api"))
		await(t, g)
		s.Close()
	})
	out := strings.TrimSpace(buf.String())
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestLogging: WithLogger logs a retry at Debug and a give-up at Warn, with
// the key, the attempt, the wait and the redacted error text.
func TestLogging(t *testing.T) {
	var buf syncBuffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lines := logLines(t, &buf, scheduler.WithLogger(l))
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	retry, giveUp := lines[0], lines[1]
	for _, want := range []string{"level=DEBUG", `msg="rebound: retry"`, "key=api", "attempt=1", "wait=1s", "boom", "bob:***@api.example"} {
		if !strings.Contains(retry, want) {
			t.Errorf("retry line %q lacks %q", retry, want)
		}
	}
	if strings.Contains(retry, "hunter2") {
		t.Errorf("retry line %q shows the URL's password", retry)
	}
	for _, want := range []string{"level=WARN", `msg="rebound: gave up"`, "key=api", "attempt=1", "job: attempts exhausted", "boom"} {
		if !strings.Contains(giveUp, want) {
			t.Errorf("give-up line %q lacks %q", giveUp, want)
		}
	}
}

// TestLoggingLevel: a logger above Debug gets the give-up only.
func TestLoggingLevel(t *testing.T) {
	var buf syncBuffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lines := logLines(t, &buf, scheduler.WithLogger(l))
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") {
		t.Errorf("log = %q, want the give-up line only", lines)
	}
}

// TestLoggingRedact: WithRedact's function replaces the error text (and the
// key) in every line.
func TestLoggingRedact(t *testing.T) {
	var buf syncBuffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lines := logLines(t, &buf, scheduler.WithLogger(l), scheduler.WithRedact(func(string) string { return "X" }))
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, line := range lines {
		if !strings.Contains(line, "error=X") {
			t.Errorf("line %q lacks error=X", line)
		}
		if strings.Contains(line, "boom") {
			t.Errorf("line %q shows the error text the redactor replaced", line)
		}
	}
}

// TestLoggingOff: without WithLogger nothing is logged, not even to slog's
// default logger.
func TestLoggingOff(t *testing.T) {
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	if lines := logLines(t, &buf); len(lines) != 0 {
		t.Errorf("logged without WithLogger: %q", lines)
	}
	var buf2 syncBuffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf2, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if lines := logLines(t, &buf2, scheduler.WithLogger(nil)); len(lines) != 0 {
		t.Errorf("logged with WithLogger(nil): %q", lines)
	}
}
