// Package testredis finds the Redis server that tests of the durable module
// and its example run against.
package testredis

import (
	"net"
	"os"
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
