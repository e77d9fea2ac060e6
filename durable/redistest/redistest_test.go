package redistest_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rebound-go/rebound/durable/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(redistest.WithServer(m, "redistest"))
}

// do sends one command to the Redis at addr and returns its reply: a
// simple string, error or integer as its line ("+OK", "-ERR ..."), a bulk
// string as its text, nil as "(nil)".
func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		cmd += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case line == "$-1":
		return "(nil)"
	case strings.HasPrefix(line, "$"):
		body, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(body, "\r\n")
	}
	return line
}

// TestAddr: the address Addr gives answers; it is REBOUND_REDIS_ADDR's when
// that is set. The child runs below run this test.
func TestAddr(t *testing.T) {
	addr := redistest.Addr(t)
	t.Logf("redis at %s", addr)
	if got := do(t, addr, "PING"); got != "+PONG" {
		t.Fatalf("PING at %s = %q, want +PONG", addr, got)
	}
	if env := os.Getenv("REBOUND_REDIS_ADDR"); env != "" && addr != env {
		t.Errorf("Addr = %s, want REBOUND_REDIS_ADDR's %s", addr, env)
	}
}

// The proxy passes commands through and refuses those fail picks: Redis
// never sees them.
func TestProxy(t *testing.T) {
	backend := redistest.Addr(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	key := "redistest-proxy-" + hex.EncodeToString(b[:])
	proxy := redistest.Proxy(t, backend, func(cmd []string) bool {
		return len(cmd) > 0 && strings.EqualFold(cmd[0], "SET")
	})
	if got := do(t, proxy, "SET", key, "through"); !strings.HasPrefix(got, "-ERR refused") {
		t.Errorf("SET through the proxy = %q, want the proxy's refusal", got)
	}
	if got := do(t, backend, "GET", key); got != "(nil)" {
		t.Errorf("GET after a refused SET = %q, want (nil): Redis saw the SET", got)
	}
	if got := do(t, backend, "SET", key, "direct"); got != "+OK" {
		t.Fatalf("SET = %q, want +OK", got)
	}
	t.Cleanup(func() { do(t, backend, "DEL", key) })
	if got := do(t, proxy, "GET", key); got != "direct" {
		t.Errorf("GET through the proxy = %q, want %q", got, "direct")
	}
}

// child runs TestAddr in a child process of this test binary, with the
// environment's REBOUND_REDIS_ADDR and CI removed and env added, and
// returns its output and exit code.
func child(t *testing.T, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAddr$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REBOUND_REDIS_ADDR=") && !strings.HasPrefix(kv, "CI=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// closedAddr returns an address of 127.0.0.1 that nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Without a Redis, the Redis tests are skipped and the binary says so in
// one line; with CI set, they fail instead.
func TestNoRedis(t *testing.T) {
	noPath := "PATH=" + t.TempDir() // no redis-server there
	closed := closedAddr(t)
	for _, tc := range []struct {
		name string
		env  []string
		code int    // exit code, 0 or not
		want string // a regexp of a whole line of the output
	}{
		{"no redis-server", []string{noPath},
			0, `redistest: redis-server not found and REBOUND_REDIS_ADDR unset: 1 Redis test skipped`},
		{"nothing at REBOUND_REDIS_ADDR", []string{"REBOUND_REDIS_ADDR=" + closed},
			0, `redistest: no Redis answers at ` + regexp.QuoteMeta(closed) + ` \(REBOUND_REDIS_ADDR\): .*refused: 1 Redis test skipped`},
		{"CI, no redis-server", []string{noPath, "CI=1"},
			1, `.*redistest: CI is set and the Redis tests cannot run: redis-server not found and REBOUND_REDIS_ADDR unset`},
		{"CI, nothing at REBOUND_REDIS_ADDR", []string{"REBOUND_REDIS_ADDR=" + closed, "CI=true"},
			1, `.*redistest: CI is set and the Redis tests cannot run: no Redis answers at ` + regexp.QuoteMeta(closed) + `.*`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := child(t, tc.env...)
			if (code == 0) != (tc.code == 0) {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if n := len(regexp.MustCompile(`(?m)^`+tc.want+`$`).FindAllString(out, -1)); n != 1 {
				t.Errorf("output has %d lines matching %q, want 1:\n%s", n, tc.want, out)
			}
			if tc.code != 0 && strings.Contains(out, "skipped") {
				t.Errorf("with CI set, tests were skipped:\n%s", out)
			}
		})
	}
}

// With redis-server on PATH and REBOUND_REDIS_ADDR unset, the binary
// starts a server of its own, and once the tests have ended the server is
// gone and its directory removed.
func TestOwnServer(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and there is no redis-server on PATH: %v", err)
		}
		t.Skip("no redis-server on PATH")
	}
	tmp := t.TempDir()
	out, code := child(t, "TMPDIR="+tmp)
	if code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, out)
	}
	m := regexp.MustCompile(`redis at (127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the child did not report its Redis:\n%s", out)
	}
	if strings.Contains(out, "skipped") {
		t.Errorf("the child skipped a test:\n%s", out)
	}
	if conn, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		conn.Close()
		t.Errorf("something still listens at %s after the child ended", m[1])
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("the child left %d entries in its TMPDIR, want 0 (%s, ...)", len(left), left[0].Name())
	}
}
