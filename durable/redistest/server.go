package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// server is a redis-server that this test binary started.
type server struct {
	addr   string
	dir    string // its working directory and log: removed by stop
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has ended
}

// start starts a redis-server on a free port of 127.0.0.1, in a temporary
// directory, with no persistence, and returns once it answers PING. It
// returns an unavailable error when there is no redis-server on PATH.
func start() (*server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, unavailable{errNotFound}
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	// A free port may be taken between the look and redis-server's bind:
	// then redis-server exits, and another port is tried.
	var errs []error
	for range 3 {
		s, err := startIn(bin, dir)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("starting %s: %w", bin, errors.Join(errs...))
}

func startIn(bin, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: net.JoinHostPort("127.0.0.1", port), dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(s.addr)
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %v\n%s", s.addr, err, s.logTail())
		}
		// Polling a process that is starting: there is nothing in this
		// process to synchronise on.
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited at start (%v)\n%s", s.addr, s.cmd.ProcessState, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freePort returns a port of 127.0.0.1 that nothing listened on a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// kill ends the process and waits until it has ended.
func (s *server) kill() {
	_ = s.cmd.Process.Kill() // an error means it had ended already
	<-s.exited
}

// stop ends the process and removes its directory. It has nothing to save.
func (s *server) stop() error {
	s.kill()
	return os.RemoveAll(s.dir)
}

// logTail returns the end of the server's log, for error messages.
func (s *server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if i := len(b) - 2000; i > 0 {
		b = b[i:]
	}
	return string(bytes.TrimSpace(b))
}
