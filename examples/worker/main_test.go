package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	acceptedRE = regexp.MustCompile(`accepted=(\d+) running=`)
	finalRE    = regexp.MustCompile(`(?m)^accepted=(\d+) succeeded=(\d+) gave_up=(\d+) canceled=(\d+) lost=(\d+)$`)
	refusedRE  = regexp.MustCompile(`(?m)^jobs refused at first, the scheduler being full \(ErrQueueFull\): (\d+)$`)
	leftRE     = regexp.MustCompile(`(?m)^left on the queue, never accepted: (\d+)$`)
	loadRE     = regexp.MustCompile(`(?m)^load: the jobs keep about ([\d.]+) of the (\d+) workers busy on average`)
)

// signaler is the output of a run: it keeps what run writes and, once a
// status line shows at least n accepted jobs (n > 0), calls stop, as a
// SIGINT would through signal.NotifyContext.
type signaler struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int
	stop context.CancelFunc
}

func (s *signaler) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := acceptedRE.FindSubmatch(p); m != nil && s.n > 0 {
		if n, _ := strconv.Atoi(string(m[1])); n >= s.n {
			s.stop()
		}
	}
	return s.buf.Write(p)
}

func (s *signaler) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// tally is the final lines of a run.
type tally struct {
	accepted, succeeded, gaveUp, canceled, lost int
	refused, left                               int // jobs refused at first; left on the queue
}

// runWorker runs the worker with args until it has accepted at least n jobs,
// then stops it, and returns its output and final tally. With n = 0 the
// run stops by itself (-for).
func runWorker(t *testing.T, n int, args ...string) (string, tally) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &signaler{n: n, stop: cancel}
	code := run(ctx, args, out)
	text := out.String()
	t.Logf("output:\n%s", text)
	if code != 0 {
		t.Fatalf("run = %d, want 0", code)
	}
	m := finalRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no final accepted=... line")
	}
	var v [5]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	tl := tally{accepted: v[0], succeeded: v[1], gaveUp: v[2], canceled: v[3], lost: v[4]}
	for _, f := range []struct {
		re *regexp.Regexp
		n  *int
	}{{refusedRE, &tl.refused}, {leftRE, &tl.left}} {
		m := f.re.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("output lacks a line matching %q", f.re)
		}
		*f.n, _ = strconv.Atoi(m[1])
	}
	if tl.lost != 0 || tl.accepted != tl.succeeded+tl.gaveUp+tl.canceled {
		t.Errorf("accepted=%d succeeded=%d gave_up=%d canceled=%d lost=%d: a job is unaccounted for",
			tl.accepted, tl.succeeded, tl.gaveUp, tl.canceled, tl.lost)
	}
	if tl.accepted < n {
		t.Errorf("accepted = %d, want >= %d", tl.accepted, n)
	}
	return text, tl
}

// TestWorkerDrains stops the worker with a generous drain deadline: every
// accepted job runs to its end, none is canceled.
func TestWorkerDrains(t *testing.T) {
	text, tl := runWorker(t, 40, "-rate", "400", "-every", "20ms", "-slow", "0", "-drain", "10s", "-seed", "3")
	if tl.canceled != 0 {
		t.Errorf("canceled = %d, want 0 with a 10s drain", tl.canceled)
	}
	if tl.gaveUp == 0 {
		t.Errorf("gave_up = 0, want some (malformed jobs)")
	}
	if !strings.Contains(text, "drained in") {
		t.Errorf("output lacks %q", "drained in")
	}
}

// TestWorkerDeadline stops the worker while slow jobs run, with a drain
// deadline shorter than they take: they are canceled, and still counted.
func TestWorkerDeadline(t *testing.T) {
	text, tl := runWorker(t, 40, "-rate", "400", "-every", "20ms", "-slow", "0.3", "-slow-for", "30s", "-drain", "200ms", "-seed", "3")
	if tl.canceled == 0 {
		t.Errorf("canceled = 0, want the slow jobs canceled at the drain deadline")
	}
	if !strings.Contains(text, "drain deadline passed") {
		t.Errorf("output lacks %q", "drain deadline passed")
	}
}

// TestWorkerDefaults runs the worker as `go run ./examples/worker` does (only
// the status line comes more often): the workers keep up with the jobs, so
// none is ever refused for want of room and none is left on the queue when
// it stops.
func TestWorkerDefaults(t *testing.T) {
	text, tl := runWorker(t, 60, "-every", "20ms")
	m := loadRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("output lacks the load line (a steady state) matching %q", loadRE)
	}
	load, _ := strconv.ParseFloat(m[1], 64)
	workers, _ := strconv.Atoi(m[2])
	if load > float64(workers)/2 {
		t.Errorf("the defaults keep %.1f of %d workers busy, want at most half", load, workers)
	}
	if tl.refused != 0 {
		t.Errorf("%d jobs refused at first (ErrQueueFull) with the defaults, want 0: the worker is overloaded", tl.refused)
	}
	if tl.left != 0 {
		t.Errorf("%d jobs left on the queue with the defaults, want 0", tl.left)
	}
	if strings.Contains(text, "overload") {
		t.Errorf("the defaults report an overload")
	}
}

// TestWorkerOverload: with more work than the workers can do, the worker
// says so, the scheduler refuses jobs past -limit, the excess stays on the
// queue, and every accepted job is still accounted for.
func TestWorkerOverload(t *testing.T) {
	text, tl := runWorker(t, 0, "-overload", "-rate", "400", "-every", "20ms", "-limit", "20",
		"-slow", "0.3", "-slow-for", "30s", "-drain", "100ms", "-for", "1s")
	if !strings.Contains(text, "overload: the jobs bring about") {
		t.Errorf("output does not explain the overload")
	}
	if !strings.Contains(text, "8 workers, jobs arriving") {
		t.Errorf("-overload did not set 8 workers")
	}
	if tl.refused == 0 {
		t.Errorf("no job refused at first under overload, want some")
	}
	if tl.left == 0 {
		t.Errorf("no job left on the queue under overload, want some")
	}
}
