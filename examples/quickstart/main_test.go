package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stdout runs f with os.Stdout going to a file and returns what f wrote.
func stdout(t *testing.T, f func()) string {
	t.Helper()
	file, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	saved := os.Stdout
	os.Stdout = file
	defer func() { os.Stdout = saved }()
	f()
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestQuickstart(t *testing.T) {
	got := stdout(t, main)
	want := regexp.MustCompile(`^` +
		`attempt 1 failed \(service unavailable\); retrying in (\d+ms|0s)\n` +
		`attempt 2 failed \(service unavailable\); retrying in (\d+ms|0s)\n` +
		`got "hello, world" after 3 attempts\n$`)
	if !want.MatchString(got) {
		t.Errorf("output:\n%s\nwant it to match %q", got, want)
	}
}

// The README's quick start is this program: the README's first Go block
// under "## Quick start" is main.go from "package main" on.
func TestREADMEQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	m := regexp.MustCompile("(?s)\n```go\n(.*?)```\n").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("README.md's quick start has no Go block")
	}
	i := strings.Index(string(src), "package main\n")
	if i < 0 {
		t.Fatal("main.go has no package clause")
	}
	if block, file := m[1], string(src[i:]); block != file {
		t.Errorf("README.md's quick start differs from examples/quickstart/main.go from %q on:\n%s",
			"package main", firstDiff(block, file))
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  README:  " + x + "\n  main.go: " + y
		}
	}
	return "(no line differs)"
}
