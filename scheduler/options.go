package scheduler

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/internal/redact"
	"github.com/rebound-go/rebound/job"
)

// Option configures a Scheduler in New.
type Option interface {
	apply(*config)
}

type config struct {
	workers   int
	queueSize int
	clock     clock.Clock
	rand      *rand.Rand
	defaults  []job.Option
	keyLimit  int
	keyRate   *rateSpec    // WithKeyRate
	adaptive  *adaptiveCfg // WithAdaptiveKeyRate
	budget    *budget
	grace     time.Duration
	logger    *slog.Logger
	redact    func(string) string
}

// The defaults, in one place. They suit I/O-bound work: many workers, each
// mostly waiting on the network.
func defaultConfig() config {
	return config{
		workers:   64,              // WithWorkers
		queueSize: 10_000,          // WithQueueSize
		clock:     clock.New(),     // WithClock: the real clock
		grace:     5 * time.Second, // WithGrace
		redact:    redact.String,   // WithRedact
		// rand: nil, math/rand/v2's global source (WithRand)
		// keyLimit: 0, no per-key limit (WithKeyLimit)
		// budget: nil, no retry budget (WithRetryBudget)
		// logger: nil, no logging (WithLogger)
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithWorkers sets the number of workers: attempts running at once. Default
// 64. Workers start as work arrives and stay until Shutdown or Close. It
// panics if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("scheduler: WithWorkers must be >= 1, got %d", n))
	}
	return optionFunc(func(c *config) { c.workers = n })
}

// WithQueueSize bounds the jobs admitted and not yet ended: queued, running
// and parked together. Submit blocks and TrySubmit fails while the bound is
// reached, so memory stays bounded however many retries are pending. A
// retry is already admitted and never blocks. Default 10,000. It panics if
// n < 1.
func WithQueueSize(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("scheduler: WithQueueSize must be >= 1, got %d", n))
	}
	return optionFunc(func(c *config) { c.queueSize = n })
}

// WithClock sets the clock of every timer and deadline (default: the real
// clock); a *clock.Mock makes a scheduler testable, see WaitSettled. It panics
// if c is nil.
func WithClock(c clock.Clock) Option {
	if c == nil {
		panic("scheduler: WithClock(nil)")
	}
	return optionFunc(func(cfg *config) { cfg.clock = c })
}

// WithRand seeds the jitter of every job that brings no job.Rand of its own.
// One job's delays are then reproducible when it runs alone; across
// concurrent jobs only the distribution is (they draw from one source, in
// whatever order they retry).
func WithRand(seed uint64) Option {
	return optionFunc(func(c *config) {
		c.rand = rand.New(&lockedSource{src: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)})
	})
}

// WithDefaults sets policy options that apply to every job before its own
// options. Per-job options (job.Key, job.Clock, job.Rand) are not allowed
// here: it panics on them.
func WithDefaults(opts ...job.Option) Option {
	p := func() *job.Policy {
		defer func() {
			if v := recover(); v != nil {
				panic(fmt.Sprintf("scheduler: WithDefaults: %v", v))
			}
		}()
		return job.NewPolicy(opts...)
	}()
	return optionFunc(func(c *config) { c.defaults = append(c.defaults, p) })
}

// WithGrace bounds how long Shutdown and Close wait for running attempts
// once they have canceled them (default 5s); attempts still running then are
// abandoned. The same grace past an attempt's AttemptTimeout abandons an
// attempt that ignores its context and replaces its worker. 0 abandons at
// once. It panics if d < 0.
func WithGrace(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("scheduler: WithGrace must be >= 0, got %v", d))
	}
	return optionFunc(func(c *config) { c.grace = d })
}

// WithLogger logs retries at Debug and give-ups at Warn, with the job's key,
// attempt, wait and error text passed through the redactor (WithRedact).
// Logging is off by default. nil turns it off.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithRedact sets the function that every error text passes through before
// it is logged. The default masks URL passwords and the values of
// secret-looking query parameters and headers (token, key, secret, password,
// signature, auth, ...). nil restores the default.
func WithRedact(f func(string) string) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			f = redact.String
		}
		c.redact = f
	})
}

// lockedSource is a seeded source safe for concurrent use.
type lockedSource struct {
	mu  sync.Mutex
	src *rand.PCG
}

func (l *lockedSource) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}
