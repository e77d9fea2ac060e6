package httpretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// Transport is an http.RoundTripper that retries: each attempt of a request
// is an attempt of a job on a scheduler, keyed by the request's host, and a
// failed attempt waits for its retry on the scheduler's timer heap. See the
// package documentation for what is retried and how.
//
// A Transport is safe for concurrent use by any number of goroutines. Make
// one with NewTransport or NewClient; the zero value is not usable. A
// Transport with a scheduler of its own holds that scheduler's workers until
// Close (or until the Transport is garbage collected).
type Transport struct {
	base      http.RoundTripper
	s         *scheduler.Scheduler
	own       bool // s is the Transport's: Close ends it
	cleanup   runtime.Cleanup
	policy    *job.Policy
	key       func(*http.Request) string
	bodyLimit int64
	retryAll  bool
	closed    atomic.Bool
	lastKey   atomic.Pointer[keyOption] // the key option of the last request keyed
}

// keyOption is a key and its job.Key option. A Transport keeps the last
// one made, so that the requests to one host (an API fan-out) do not box
// the same key again and again.
type keyOption struct {
	key string
	opt job.Option
}

// keyOpt returns the job.Key option of key k.
func (t *Transport) keyOpt(k string) job.Option {
	if ko := t.lastKey.Load(); ko != nil && ko.key == k {
		return ko.opt
	}
	ko := &keyOption{k, job.Key(k)}
	t.lastKey.Store(ko)
	return ko.opt
}

// NewTransport returns a Transport that sends each attempt through base (nil:
// http.DefaultTransport), configured by opts.
func NewTransport(base http.RoundTripper, opts ...Option) *Transport {
	c := newConfig(opts)
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{
		base:      base,
		s:         c.sched,
		policy:    c.policy,
		key:       c.key,
		bodyLimit: c.bodyLimit,
		retryAll:  c.retryAll,
	}
	if t.s == nil {
		t.s = scheduler.New(scheduler.WithWorkers(defaultWorkers), scheduler.WithQueueSize(defaultQueue))
		t.own = true
		// A Transport dropped without Close still ends its scheduler's
		// workers (they refer to the scheduler, not to the Transport).
		t.cleanup = runtime.AddCleanup(t, func(s *scheduler.Scheduler) { s.Close() }, t.s)
	}
	return t
}

// NewClient returns an *http.Client whose Transport is NewTransport(nil,
// opts...): the one-line retrying client. Redirects, cookies and the
// client's Timeout work as with any http.Client (a redirect is a request of
// its own, retried on its own). To end the Transport's scheduler, close the
// Transport: c.Transport.(*httpretry.Transport).Close().
func NewClient(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(nil, opts...)}
}

// RoundTrip sends req, retrying it as the policy says, and returns the
// response of the last attempt, or an error. It blocks until then; the
// request's context bounds everything (its end cancels a waiting retry at
// once and a running attempt through its context, and is then the reason of
// the *job.Error returned), and is the context the final response's body is
// read under. Each attempt sends a shallow copy of req whose context derives
// from req's (its deadline, values and end, with its cause) and carries the
// attempt's number (job.AttemptFrom); the attempt's end (its AttemptTimeout,
// the Transport's Close) ends it too, until the response is handed out.
//
// When the last attempt got a response, RoundTrip returns that response
// unchanged with a nil error, whatever its status and whatever ended the
// job: a success, a final status (a 404 at once), attempts used up (the
// fourth 503), a Retry-After longer than the policy's MaxWait or past the
// request's deadline, the retry budget. The caller sees what it would have
// seen without retries, and Attempts(resp) says how many attempts were
// made. Otherwise RoundTrip returns a *job.Error whose Reason says why and
// whose Last is the last attempt's error, if any (errors.Is and errors.As
// reach the net error): after a transport error, or when the request's
// context ends or the Transport closes (even while a retry of a 503
// waits), or when the host is paused for longer than MaxWait by an earlier
// answer (job.ErrDeadline, no attempt made). The final response's body belongs to the caller, who must
// close it; the bodies of the other attempts' responses are drained (up to
// 64 KiB, so that their connections are reused) and closed.
//
// A request body is closed, as http.RoundTripper requires, even when
// RoundTrip fails before sending it.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, errors.New("httpretry: nil Request")
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("httpretry: nil Request.URL")
	}
	if t.closed.Load() {
		closeBody(req)
		return nil, &job.Error{Reason: job.ErrClosed}
	}
	c := &call{t: t, req: req}
	if err := c.prepareBody(); err != nil {
		return nil, err
	}
	c.key = req.URL.Host
	if t.key != nil {
		c.key = t.key(req)
	}
	// The first attempt runs on this goroutine when the scheduler has a
	// free place; the job ends when req's context does.
	var resp *http.Response
	var err error
	if c.key == "" {
		resp, err = scheduler.Do(t.s, req.Context(), c.attempt, t.policy)
	} else {
		resp, err = scheduler.Do(t.s, req.Context(), c.attempt, t.policy, t.keyOpt(c.key))
	}
	return c.finish(resp, err)
}

// Close ends the Transport. With a scheduler of its own, it closes it: the
// requests in flight end at once with a *job.Error whose Reason is
// job.ErrClosed (their running attempts are canceled; Close waits for them
// up to the scheduler's grace, 5 s), and no goroutine of the scheduler is
// left. With WithScheduler, it leaves the scheduler and the requests in
// flight to their owners. Either way, later requests fail at once with
// job.ErrClosed, and the base transport's idle connections are closed.
// Bodies of responses already returned stay readable. Close is idempotent;
// its error is always nil.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	if t.own {
		t.cleanup.Stop()
		t.s.Close()
	}
	t.CloseIdleConnections()
	return nil
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it has such a method (http.Client.CloseIdleConnections calls it).
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Attempts returns the number of attempts a Transport made for the request
// that resp answers (1 when the first attempt's response was final), or 0
// when resp did not come from a Transport. It reads resp.Request, which a
// Transport sets to the request of the last attempt: a shallow copy of the
// caller's request with a context of its own.
func Attempts(resp *http.Response) int {
	if resp == nil || resp.Request == nil {
		return 0
	}
	n, _ := resp.Request.Context().Value(attemptsKey{}).(int)
	return n
}

// attemptsKey is the context key under which an attempt's request carries
// the attempt's number.
type attemptsKey struct{}

// reqParent is the parent of an attempt's request context: the request's
// own context (its end and deadline) with the attempt's values and number.
// The request context derives from the request's context, not from the
// attempt's, so that the final response's body outlives the attempt, and
// the end of the request's context reaches it directly; the attempt's end
// (its timeout, the scheduler's shutdown) cancels it through afterCancel
// until the response is handed out. (An observer's context for the attempt
// gives it values, not its end.)
type reqParent struct {
	req     context.Context
	attempt context.Context
	n       int
}

func (p *reqParent) Deadline() (time.Time, bool) { return p.req.Deadline() }
func (p *reqParent) Done() <-chan struct{}       { return p.req.Done() }
func (p *reqParent) Err() error                  { return p.req.Err() }

func (p *reqParent) Value(key any) any {
	if key == (attemptsKey{}) {
		return p.n
	}
	if a, ok := p.attempt.(*job.Attempt); ok {
		return a.DetachedValue(key) // not its end: the body outlives it
	}
	return p.attempt.Value(key)
}

// AfterFunc makes a context derived from p follow the request's context
// without a goroutine of its own when its values lead to another
// cancelable context than the request's (an observer's context for the
// attempt): the context package calls it then.
func (p *reqParent) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(p.req, f) }

// afterCancel calls f once the attempt whose context ctx is has been
// canceled (see job.Attempt.AfterCancel), or once ctx has ended.
func afterCancel(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(*job.Attempt); ok {
		return a.AfterCancel(f)
	}
	return context.AfterFunc(ctx, f)
}

// drainLimit is how much of a failed attempt's response body is read, and
// kept for the caller should that response be the last: a body read to its
// end lets its connection be reused.
const drainLimit = 64 << 10

// call is one RoundTrip: the job's operation and what its attempts share.
type call struct {
	t   *Transport
	req *http.Request
	key string

	buf  []byte        // bufferedBody: the body; onceBody: its first bytes
	rest io.ReadCloser // onceBody: the rest of it
	kind bodyKind      // (beside mu and the flags: they share a word)

	mu   sync.Mutex
	sent bool           // the caller's body has gone to an attempt
	done bool           // RoundTrip has returned (an abandoned attempt may still run)
	last *http.Response // the last attempt's response, until handed out

	// The first attempt's request context's parent and response body
	// wrapper, allocated with the call: a request answered at once costs
	// one allocation of its own, not three. Only the first attempt uses
	// them (attempts never overlap, and a later one gets its own).
	par0  reqParent
	body0 finalBody
}

// parent returns the parent of attempt n's request context.
func (c *call) parent(actx context.Context, n int) *reqParent {
	p := &c.par0
	if n != 1 {
		p = new(reqParent)
	}
	*p = reqParent{req: c.req.Context(), attempt: actx, n: n}
	return p
}

// finalBody wraps rc, the body of attempt n's response, for the caller
// (see finalBody.init).
func (c *call) finalBody(n int, rc io.ReadCloser, read []byte, cancel context.CancelFunc) *finalBody {
	b := &c.body0
	if n != 1 {
		b = new(finalBody)
	}
	b.init(rc, read, cancel)
	return b
}

// attempt is the job's operation: one attempt of the request.
func (c *call) attempt(actx context.Context) (*http.Response, error) {
	body, err := c.begin()
	if err != nil {
		return nil, err
	}
	// The request's context follows the attempt's only until the headers
	// have come: the attempt's context ends when this function returns,
	// and the final response's body must outlive it.
	n := job.AttemptFrom(actx)
	rctx, cancel := context.WithCancel(c.parent(actx, n))
	stop := afterCancel(actx, cancel)
	r := c.req.WithContext(rctx)
	r.Body = body
	if c.kind == bufferedBody {
		r.GetBody = c.getBody
	}

	resp, err := c.t.base.RoundTrip(r)
	if err != nil {
		stop()
		cancel()
		if resp != nil && resp.Body != nil {
			resp.Body.Close() // a RoundTripper must not return both; be safe
		}
		return nil, c.failed(actx, err)
	}
	resp.Request = r
	v := judgeStatus(c.req, resp.StatusCode, c.t.retryAll)
	if v == retry && c.kind == onceBody {
		v = final // its body cannot be sent again
	}
	h := time.Duration(-1)
	if v != success {
		h = hintOf(resp, v, time.Now())
	}
	if d, ok := rateLimit(resp.Header); ok && d > h {
		c.t.s.PauseKey(c.key, d)
	}

	if v == retry {
		resp.Body = c.drain(n, resp.Body, stop, cancel)
		c.hold(resp)
		return resp, statusErr(c.req, resp, v, h)
	}
	// Final: the body is the caller's, readable under the request's own
	// context however long the caller takes.
	if !stop() {
		// The attempt ended (its timeout, or the job's end) as the
		// headers came: the body would end with it.
		resp.Body.Close()
		cancel()
		return nil, c.failed(actx, rctx.Err())
	}
	resp.Body = c.finalBody(n, resp.Body, nil, cancel)
	c.hold(resp)
	if v == final {
		return resp, statusErr(c.req, resp, v, h)
	}
	return resp, nil
}

// failed turns the error of an attempt that got no response into the job's
// verdict: a plain error to retry, or a permanent one.
func (c *call) failed(actx context.Context, err error) error {
	if ae := actx.Err(); ae != nil && !errors.Is(err, ae) {
		// net/http reports the end of our context, not why it ended (an
		// attempt's timeout: context.DeadlineExceeded).
		err = fmt.Errorf("httpretry: attempt ended (%w): %w", ae, err)
	}
	if c.kind == onceBody || judgeErr(c.req, err, c.t.retryAll) == final {
		return job.Permanent(err)
	}
	return err
}

// hold records resp as the last attempt's response, or closes it when
// RoundTrip has returned already (an abandoned attempt).
func (c *call) hold(resp *http.Response) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		resp.Body.Close()
		return
	}
	c.last = resp
	c.mu.Unlock()
}

// finish ends RoundTrip with the job's outcome.
func (c *call) finish(resp *http.Response, err error) (*http.Response, error) {
	c.mu.Lock()
	c.done = true
	last := c.last
	c.last = nil
	sent := c.sent
	c.mu.Unlock()
	if !sent {
		c.closeUnsent()
	}
	if err == nil {
		return resp, nil // resp is last
	}
	var je *job.Error
	if last != nil && errors.As(err, &je) && answered(je.Reason) {
		return last, nil
	}
	if last != nil {
		last.Body.Close()
	}
	return nil, err
}

// answered reports whether a job that gave up for reason after a response
// returns that response: it did unless the request's context ended or the
// Transport closed.
func answered(reason error) bool {
	switch reason {
	case job.ErrExhausted, job.ErrDeadline, job.ErrPermanent, job.ErrBudget:
		return true
	}
	return false
}

// rateLimit returns the pause a response's rate-limit headers ask for.
func rateLimit(h http.Header) (time.Duration, bool) {
	if len(h["Ratelimit-Remaining"]) == 0 && len(h["X-Ratelimit-Remaining"]) == 0 {
		return 0, false // the common case, without reading the clock
	}
	return RateLimitPause(h, time.Now())
}

// closeBody closes req's body, if any.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
