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
)

// signaler is the output of a run: it keeps what run writes and, once a
// status line shows at least n accepted jobs, calls stop, as a SIGINT
// would through signal.NotifyContext.
type signaler struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int
	stop context.CancelFunc
}

func (s *signaler) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := acceptedRE.FindSubmatch(p); m != nil {
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

// tally is the final line of a run.
type tally struct{ accepted, succeeded, gaveUp, canceled, lost int }

// runWorker runs the worker with args until it has accepted at least n jobs,
// then stops it, and returns its output and final tally.
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
	tl := tally{v[0], v[1], v[2], v[3], v[4]}
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
