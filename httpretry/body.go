package httpretry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/rebound-go/rebound/job"
)

// bodyKind says how a request's body is given to each attempt.
type bodyKind uint8

const (
	noBody       bodyKind = iota
	rewindBody            // the caller's body first, then GetBody
	bufferedBody          // read into memory up front, replayed
	onceBody              // too long to buffer: sent once, never retried
)

// prepareBody decides how c's attempts get the request's body, reading it
// into memory when it has no GetBody and fits the limit. When reading fails
// it closes the body and returns the error.
func (c *call) prepareBody() error {
	b := c.req.Body
	switch {
	case b == nil || b == http.NoBody:
		c.kind = noBody
	case c.req.GetBody != nil:
		c.kind = rewindBody
	case c.t.bodyLimit == 0:
		c.kind, c.rest = onceBody, b
	default:
		n := c.t.bodyLimit
		if n < math.MaxInt64 {
			n++ // one byte more tells a body at the limit from a longer one
		}
		buf, err := io.ReadAll(io.LimitReader(b, n))
		if err != nil {
			b.Close()
			return fmt.Errorf("httpretry: reading the request body: %w", err)
		}
		if int64(len(buf)) <= c.t.bodyLimit {
			b.Close()
			c.kind, c.buf = bufferedBody, buf
			return nil
		}
		c.kind, c.buf, c.rest = onceBody, buf, b
	}
	return nil
}

// begin starts an attempt: it closes the response of the attempt before,
// which was not the last after all, and returns the body to send.
func (c *call) begin() (io.ReadCloser, error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil, job.Permanent(errors.New("httpretry: the request has ended"))
	}
	prev := c.last
	c.last = nil
	first := !c.sent
	c.sent = true
	c.mu.Unlock()
	if prev != nil {
		prev.Body.Close()
	}
	switch c.kind {
	case rewindBody:
		if first {
			return c.req.Body, nil
		}
		b, err := c.req.GetBody()
		if err != nil {
			return nil, job.Permanent(fmt.Errorf("httpretry: GetBody: %w", err))
		}
		return b, nil
	case bufferedBody:
		return c.getBody()
	case onceBody:
		if !first {
			return nil, job.Permanent(errors.New("httpretry: the request's body cannot be sent again"))
		}
		if len(c.buf) == 0 {
			return c.rest, nil
		}
		return prefixed{io.MultiReader(bytes.NewReader(c.buf), c.rest), c.rest}, nil
	}
	return c.req.Body, nil
}

// getBody is the GetBody of a buffered body's attempts, so that net/http can
// rewind it too.
func (c *call) getBody() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.buf)), nil
}

// closeUnsent closes the caller's body when no attempt took it.
func (c *call) closeUnsent() {
	switch c.kind {
	case noBody, rewindBody:
		if c.req.Body != nil {
			c.req.Body.Close()
		}
	case onceBody:
		c.rest.Close()
	}
}

// prefixed is a body whose first bytes were read already.
type prefixed struct {
	io.Reader
	io.Closer
}

// drain reads the body of attempt n's response, which is to be retried, up
// to drainLimit, and returns what replaces it: the bytes read (the
// connection goes back to the pool) or, for a longer body, the bytes read
// followed by the rest, kept open in case this response is the last.
func (c *call) drain(n int, body io.ReadCloser, stop func() bool, cancel context.CancelFunc) io.ReadCloser {
	buf, err := io.ReadAll(io.LimitReader(body, drainLimit+1))
	if len(buf) <= drainLimit {
		body.Close()
		stop()
		cancel()
		return &replay{r: bytes.NewReader(buf), err: err}
	}
	if !stop() {
		// The attempt ended while its body was being read: the rest is gone.
		body.Close()
		cancel()
		return &replay{r: bytes.NewReader(buf), err: context.Canceled}
	}
	return c.finalBody(n, body, buf, cancel)
}

// replay is a failed attempt's body, read to its end (or to the error that
// ended it) and kept in memory.
type replay struct {
	r   *bytes.Reader
	err error // what ended the reading, nil at io.EOF
}

func (b *replay) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *replay) Close() error { return nil }

// finalBody is the body of a response handed to the caller. It owns the
// attempt's request context, which has stopped following the attempt's
// (it still ends with the request's own context): Close ends it.
type finalBody struct {
	rc     io.ReadCloser
	r      io.Reader // rc, or the bytes read already followed by rc
	cancel context.CancelFunc
}

// init makes b the body of rc, read already (read followed by rc), whose
// Close calls cancel.
func (b *finalBody) init(rc io.ReadCloser, read []byte, cancel context.CancelFunc) {
	b.rc, b.r, b.cancel = rc, rc, cancel
	if len(read) > 0 {
		b.r = io.MultiReader(bytes.NewReader(read), rc)
	}
}

func (b *finalBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *finalBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
