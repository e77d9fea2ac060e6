package httpretry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// memNet is an in-memory network for tests in a synctest bubble: real
// http.Servers and a real http.Transport speaking HTTP/1.1 over net.Pipe,
// whose blocking is durable, so that the bubble's clock can advance while
// requests wait. Create it inside the bubble and close it before the
// bubble's function returns.
type memNet struct {
	hosts map[string]*memListener // by "host:port"
	srvs  []*http.Server
	wg    sync.WaitGroup
	base  *http.Transport
}

// newMemNet starts a server per address ("a.test:80") with its handler.
func newMemNet(handlers map[string]http.Handler) *memNet {
	n := &memNet{hosts: make(map[string]*memListener)}
	for addr, h := range handlers {
		l := &memListener{addr: memAddr(addr), conns: make(chan net.Conn), done: make(chan struct{})}
		n.hosts[addr] = l
		srv := &http.Server{Handler: h}
		n.srvs = append(n.srvs, srv)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			srv.Serve(l)
		}()
	}
	n.base = &http.Transport{DialContext: n.dial}
	return n
}

func (n *memNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l := n.hosts[addr]
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("no such host")}
	}
	c, s := net.Pipe()
	var err error
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		err = syscall.ECONNREFUSED
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.Close()
	s.Close()
	return nil, &net.OpError{Op: "dial", Net: network, Err: err}
}

// close ends the servers and the client's idle connections, and waits for
// the servers to stop.
func (n *memNet) close() {
	n.base.CloseIdleConnections()
	for _, srv := range n.srvs {
		srv.Close()
	}
	n.wg.Wait()
}

type memListener struct {
	addr  memAddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

type memAddr string

func (memAddr) Network() string  { return "mem" }
func (a memAddr) String() string { return string(a) }
