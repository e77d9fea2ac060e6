package httpretry

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// Option configures a Transport in NewTransport or NewClient.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options set; defaults are set in one place, newConfig.
type config struct {
	sched     *scheduler.Scheduler // nil: one of the Transport's own
	policy    *job.Policy
	key       func(*http.Request) string // nil: the URL's host
	bodyLimit int64
	retryAll  bool // WithRetryNonIdempotent
}

// DefaultBodyLimit is how much of a request body without GetBody is
// buffered so that it can be sent again (WithBodyLimit): 1 MiB.
const DefaultBodyLimit = 1 << 20

// The defaults of a Transport's own scheduler.
const (
	// defaultWorkers bounds the attempts running at once on a Transport's
	// own scheduler: HTTP calls wait on the network, not on a CPU.
	defaultWorkers = 256
	// defaultQueue bounds the requests admitted and not yet answered on a
	// Transport's own scheduler; RoundTrip blocks beyond it.
	defaultQueue = 100_000
)

// defaultPolicy is the policy of a Transport without WithPolicy, and the
// base a WithPolicy policy applies over.
var defaultPolicy = job.NewPolicy(
	job.MaxAttempts(4),
	job.Wait(wait.Exponential(200*time.Millisecond, 2, 10*time.Second)),
	job.MaxWait(time.Minute),
)

func newConfig(opts []Option) config {
	c := config{policy: defaultPolicy, bodyLimit: DefaultBodyLimit}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithScheduler runs the Transport's attempts on s, shared with whatever else
// runs there: its key limits, pauses, key rates and retry budget then hold
// across everything submitted to s. The Transport does not own s: its Close
// does not shut s down. Without WithScheduler a Transport has a scheduler of
// its own (256 workers, room for 100,000 requests), ended by Close.
// WithScheduler panics if s is nil.
func WithScheduler(s *scheduler.Scheduler) Option {
	if s == nil {
		panic("httpretry: WithScheduler(nil)")
	}
	return optionFunc(func(c *config) { c.sched = s })
}

// WithPolicy sets how requests are retried: p applies over the Transport's
// default policy, so the fields p sets win and the others keep the defaults
// (4 attempts in all, wait.Exponential(200ms, 2, 10s) with full jitter,
// MaxWait 1 min, so that a Retry-After longer than a minute returns the 429
// or 503 response at once). The policy is shared by every request; its
// hooks run on the scheduler's workers. nil restores the default.
func WithPolicy(p *job.Policy) Option {
	return optionFunc(func(c *config) {
		if p == nil {
			c.policy = defaultPolicy
			return
		}
		c.policy = job.NewPolicy(defaultPolicy, p)
	})
}

// WithKey sets the key of a request's job: requests with the same key share
// the scheduler's per-key limit, Retry-After pauses, key rate and budget. The
// default is the request URL's host, port included ("api.example.com:443"
// and "api.example.com" are two keys). f runs in RoundTrip's goroutine; ""
// means no key (the request is paused only by its own hints). nil restores
// the default.
func WithKey(f func(*http.Request) string) Option {
	return optionFunc(func(c *config) { c.key = f })
}

// WithBodyLimit sets how many bytes of a request body without GetBody are
// buffered so that it can be sent again (default DefaultBodyLimit, 1 MiB).
// A body longer than that is sent once, as it streams, and its request is
// not retried. 0 buffers nothing: such bodies are never retried. Requests
// with GetBody (http.NewRequest sets it for a *bytes.Buffer, *bytes.Reader
// or *strings.Reader) are not buffered: each attempt gets a fresh body from
// GetBody. It panics if n < 0.
func WithBodyLimit(n int64) Option {
	if n < 0 {
		panic(fmt.Sprintf("httpretry: WithBodyLimit must be >= 0, got %d", n))
	}
	return optionFunc(func(c *config) { c.bodyLimit = n })
}

// WithRetryNonIdempotent retries every request as if it were idempotent:
// a POST or PATCH is then retried after a 408, 500, 502, 503 or 504, or a
// transport error once sent, as a GET is. Use it only when the server
// deduplicates such requests itself; an Idempotency-Key header on the request
// says so for one request, and is the better way.
func WithRetryNonIdempotent() Option {
	return optionFunc(func(c *config) { c.retryAll = true })
}
