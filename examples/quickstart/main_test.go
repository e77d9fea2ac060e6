package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if code := run(nil, &out); code != 0 {
		t.Fatalf("run = %d, want 0; output:\n%s", code, &out)
	}
	got := out.String()
	if n := strings.Count(got, "retrying in"); n != 2 {
		t.Errorf("output has %d retries, want 2:\n%s", n, got)
	}
	if want := `got "hello, world" after 3 attempts`; !strings.Contains(got, want) {
		t.Errorf("output lacks %q:\n%s", want, got)
	}
}
