package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Proxy starts a RESP proxy in front of the Redis at backend and returns
// its address; the test's cleanup stops it. Each command passes through,
// unless fail says to refuse it: then the client gets an error reply and
// Redis never sees the command. The proxy speaks RESP2 (it refuses HELLO,
// and clients fall back) and forwards one command at a time, so it is no
// place for pub/sub.
func Proxy(t testing.TB, backend string, fail func(cmd []string) bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				track(b)
				defer b.Close()
				relay(c, b, fail)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// relay passes commands from c to b and replies back, refusing those fail
// picks, until either side closes.
func relay(c, b net.Conn, fail func(cmd []string) bool) {
	cr, br := bufio.NewReader(c), bufio.NewReader(b)
	for {
		raw, cmd, err := readRESP(cr)
		if err != nil {
			return
		}
		var reply []byte
		switch {
		case len(cmd) > 0 && strings.EqualFold(cmd[0], "HELLO"):
			reply = []byte("-ERR unknown command 'HELLO'\r\n")
		case fail != nil && fail(cmd):
			reply = []byte("-ERR refused by the test's proxy\r\n")
		default:
			if _, err := b.Write(raw); err != nil {
				return
			}
			if reply, _, err = readRESP(br); err != nil {
				return
			}
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// readRESP reads one RESP2 value: its bytes, and its bulk strings in order.
func readRESP(r *bufio.Reader) (raw []byte, strs []string, err error) {
	line, err := r.ReadBytes('\n')
	if err != nil || len(line) < 3 {
		return nil, nil, fmt.Errorf("redistest: bad RESP line %q: %v", line, err)
	}
	raw = line
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '+', '-', ':':
		return raw, nil, nil
	case '$':
		if n < 0 {
			return raw, nil, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, nil, err
		}
		return append(raw, body...), []string{string(body[:n])}, nil
	case '*':
		for range max(n, 0) {
			b, s, err := readRESP(r)
			if err != nil {
				return nil, nil, err
			}
			raw, strs = append(raw, b...), append(strs, s...)
		}
		return raw, strs, nil
	}
	return nil, nil, fmt.Errorf("redistest: unknown RESP type %q", line[0])
}
