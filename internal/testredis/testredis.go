// Package testredis finds the Redis server that tests of the durable module
// and its example run against.
package testredis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Addr returns the address of the test Redis: REBOUND_REDIS_ADDR, else
// 127.0.0.1:6379. When none answers the test is skipped, unless CI is set:
// in CI the Redis tests must run (.ci/run starts a server and sets both).
func Addr(t testing.TB) string {
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
	return addr
}

// Start starts a redis-server of the test's own (no persistence, a temp
// dir, a free port on 127.0.0.1) and returns its address; the test's
// cleanup stops it. For tests that do things to the server (fill its
// memory, say) that others sharing a server must not see. Without a
// redis-server binary the test is skipped, unless CI is set.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and there is no redis-server: %v", err)
		}
		t.Skipf("no redis-server binary: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := Do(addr, "PING"); err == nil && reply == "+PONG" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer PING within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond) // polling a starting process: nothing to synchronise on
	}
}

// Do sends one command to the Redis at addr and returns the first line of
// its reply (RESP: "+OK", "-ERR ...", ":1", ...).
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
