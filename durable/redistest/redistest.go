package redistest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// envAddr names the environment variable that gives the tests a Redis.
const envAddr = "REBOUND_REDIS_ADDR"

// errNotFound is why the tests have no Redis when there is no redis-server
// to start.
var errNotFound = errors.New("redis-server not found and " + envAddr + " unset")

// state is the test binary's: there is one per process.
var state struct {
	mu      sync.Mutex
	running bool    // WithServer's Run is running the tests
	started bool    // the first Addr has tried to start a server
	srv     *server // the redis-server it started, if any
	err     error   // why it could not, if so
	skipped int     // tests Addr skipped
	why     error   // why it skipped the first of them
}

// Addr returns the address of the Redis server the test is to use (see
// the package comment for where it comes from). When there is none it
// skips the test, or fails it if CI is set; when this binary's own
// redis-server cannot start or stops answering, it fails the test. Addr is
// safe for concurrent use by parallel tests.
func Addr(t testing.TB) string {
	t.Helper()
	addr, err := find()
	if err == nil {
		return addr
	}
	if u, ok := errors.AsType[unavailable](err); ok {
		if os.Getenv("CI") != "" {
			t.Fatalf("redistest: CI is set and the Redis tests cannot run: %v", u.error)
		}
		state.mu.Lock()
		state.skipped++
		if state.why == nil {
			state.why = u.error
		}
		state.mu.Unlock()
		t.Skipf("no Redis: %v", u.error)
	}
	t.Fatalf("redistest: %v", err)
	return ""
}

// unavailable is why there is no Redis for the tests, when that is no
// fault of the tests: they may be skipped.
type unavailable struct{ error }

// find returns the address of the test Redis, starting this binary's own
// redis-server when that is how the tests get one.
func find() (string, error) {
	if addr := os.Getenv(envAddr); addr != "" {
		if err := ping(addr); err != nil {
			return "", unavailable{fmt.Errorf("no Redis answers at %s (%s): %w", addr, envAddr, err)}
		}
		return addr, nil
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.running {
		return "", unavailable{errors.New(envAddr + " unset, and TestMain does not run the tests through redistest.WithServer")}
	}
	if !state.started {
		state.started = true
		state.srv, state.err = start()
	}
	if state.err != nil {
		return "", state.err
	}
	if err := ping(state.srv.addr); err != nil {
		return "", fmt.Errorf("the tests' redis-server at %s stopped answering: %w\n%s", state.srv.addr, err, state.srv.logTail())
	}
	return state.srv.addr, nil
}

// M is what TestMain runs: a *testing.M, or a wrapper of one.
type M interface{ Run() int }

// WithServer returns m with a Redis server for its tests: its Run runs m's
// tests, lets Addr start this binary's own redis-server when one is
// needed, stops that server once the tests have ended, and then, when Addr
// skipped tests for want of a Redis, prints one line that says how many
// and why, headed by name (the package's, say). That line goes to stderr;
// when the go command would not show it (a passing package, without -v,
// among several), it goes to the terminal too, if there is one.
func WithServer(m M, name string) M { return &withServer{m: m, name: name} }

type withServer struct {
	m    M
	name string
}

func (w *withServer) Run() int {
	state.mu.Lock()
	state.running = true
	state.mu.Unlock()

	code := w.m.Run()

	state.mu.Lock()
	srv, skipped, why := state.srv, state.skipped, state.why
	state.running, state.started, state.srv, state.err = false, false, nil, nil
	state.skipped, state.why = 0, nil
	state.mu.Unlock()

	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: stopping the tests' redis-server: %v\n", w.name, err)
			code = max(code, 1)
		}
	}
	if skipped > 0 {
		tests := "tests"
		if skipped == 1 {
			tests = "test"
		}
		w.say(fmt.Sprintf("%s: %v: %d Redis %s skipped", w.name, why, skipped, tests), code)
	}
	return code
}

// say prints line where the one who ran the tests sees it. The go command
// shows a test binary's output when it streams it (go test in the
// package's directory, with stderr a terminal), with -v, and when the
// tests fail; otherwise it keeps the output of a passing package to
// itself, and the line is written to the terminal as well.
func (w *withServer) say(line string, code int) {
	fmt.Fprintln(os.Stderr, line)
	if code != 0 || (flag.Parsed() && testing.Verbose()) || isTerminal(os.Stderr) {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return // no terminal: nobody to tell
	}
	fmt.Fprintln(tty, line)
	tty.Close()
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ping sends PING to the Redis at addr and expects PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if reply != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}
