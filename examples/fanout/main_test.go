package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestFanout runs the program with a few hundred calls and checks what it
// reports: every call accounted for, 401s attempted once, every retry after
// a 429 no earlier than its Retry-After hint.
func TestFanout(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-calls", "300", "-workers", "16", "-p503", "0.3", "-p429", "0.05", "-p401", "0.05", "-seed", "7"}
	if code := run(args, &out); code != 0 {
		t.Fatalf("run = %d, want 0; output:\n%s", code, &out)
	}
	text := out.String()
	t.Logf("output:\n%s", text)

	// find returns the integers of the first match of re, or fails the test.
	find := func(re string) []int {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("output has no match for %q", re)
		}
		var ns []int
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			ns = append(ns, n)
		}
		return ns
	}

	calls := find(`(?m)^calls:\s+(\d+)$`)[0]
	ok := find(`(?m)^  succeeded:\s+(\d+)$`)[0]
	gaveUp := find(`(?m)^  gave up:\s+(\d+) \((\d+) on a 401, (\d+) with`)
	if calls != 300 || ok+gaveUp[0] != calls || gaveUp[1]+gaveUp[2] != gaveUp[0] {
		t.Errorf("calls %d, succeeded %d, gave up %v: do not add up to 300", calls, ok, gaveUp)
	}

	attempts := find(`(?m)^attempts:\s+(\d+) \(server received (\d+)\)$`)
	retries := find(`(?m)^retries:\s+(\d+) \((\d+) after a 503, (\d+) after a 429\)$`)
	if attempts[0] != attempts[1] {
		t.Errorf("client made %d attempts, server received %d", attempts[0], attempts[1])
	}
	if attempts[0] != calls+retries[0] {
		t.Errorf("attempts = %d, want calls + retries = %d", attempts[0], calls+retries[0])
	}
	if retries[0] != retries[1]+retries[2] {
		t.Errorf("retries %d != %d after a 503 + %d after a 429", retries[0], retries[1], retries[2])
	}

	// A 401 is permanent: attempted once, never retried.
	unauth := find(`(?m)^401s not retried:\s+(\d+)/(\d+) `)
	if unauth[1] == 0 || unauth[0] != unauth[1] || unauth[1] != gaveUp[1] {
		t.Errorf("401s: %d of %d calls attempted once, %d gave up on a 401; want all equal and > 0", unauth[0], unauth[1], gaveUp[1])
	}

	// Every retry after a 429 waited at least the hint, including the one
	// given as an HTTP-date.
	ra := find(`(?m)^Retry-After honoured:\s+(\d+)/(\d+) .*\((\d+) hint as an HTTP-date\)$`)
	if ra[1] == 0 || ra[0] != ra[1] || ra[1] != retries[2] || ra[2] != 1 {
		t.Errorf("Retry-After honoured %d/%d (%d after a 429, %d date hints); want all, > 0, and 1 date", ra[0], ra[1], retries[2], ra[2])
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("isTerminal(*bytes.Buffer) = true, want false")
	}
}
