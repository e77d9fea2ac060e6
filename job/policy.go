package job

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/wait"
)

// field is one bit per policy field: the fields an option set.
type field uint16

const (
	fMaxAttempts field = 1 << iota
	fMaxElapsed
	fAttemptTimeout
	fMaxWait
	fWait
	fJitter
	fRetryIf
	fResult
	fOnRetry
	fOnGiveUp
	fOnSuccess
)

// Policy is an immutable retry policy, built once with NewPolicy and shared
// by any number of jobs and goroutines. A *Policy is an Option that sets
// exactly the fields that were set when it was built; passed as a job's only
// policy option it is shared by pointer, not copied. The zero value is not
// usable; a nil *Policy is an ignored option.
type Policy struct {
	maxAttempts    int
	maxElapsed     time.Duration
	attemptTimeout time.Duration
	maxWait        time.Duration
	wait           wait.Strategy
	jitter         jitter.Jitter
	retryIf        func(error) bool
	result         any // func(T) bool for the job's T, or nil
	resultType     string
	onRetry        func(Event)
	onGiveUp       func(Event)
	onSuccess      func(Event)

	set          field // the fields an option set (for a Policy used as an option)
	needsTime    bool  // MaxElapsed, AttemptTimeout or a hook: read the clock at start
	selfJittered bool

	over *overCache // NewPolicy's policies: the last merge over another base
}

// overCache is a one-entry cache of a policy's merge over a base other than
// the defaults (a scheduler's WithDefaults), so that a million jobs submitted
// with one Policy on one scheduler carry one *Policy.
type overCache struct {
	last atomic.Pointer[merged]
}

type merged struct{ base, p *Policy }

// defaults is the package default policy: 10 attempts, Exponential(100ms, 2,
// 30s) with Full jitter, MaxWait 1h, no MaxElapsed, no AttemptTimeout.
var defaults = func() *Policy {
	p := &Policy{
		maxAttempts: 10,
		maxWait:     time.Hour,
		wait:        wait.Exponential(100*time.Millisecond, 2, 30*time.Second),
		jitter:      jitter.Full,
	}
	p.seal()
	return p
}()

// seal computes the derived fields once a policy is complete.
func (p *Policy) seal() {
	p.needsTime = p.maxElapsed > 0 || p.attemptTimeout > 0 ||
		p.onRetry != nil || p.onGiveUp != nil || p.onSuccess != nil
	p.selfJittered = false
	if sj, ok := p.wait.(wait.SelfJittered); ok {
		p.selfJittered = sj.SelfJittered()
	}
}

// NewPolicy builds a Policy from policy options, over the package defaults.
// Per-job options (Key, Clock, Rand) do not belong in a policy: NewPolicy
// panics on them.
func NewPolicy(opts ...Option) *Policy {
	var b builder
	b.reset(nil)
	for _, o := range opts {
		switch o.(type) {
		case nil:
			continue
		case keyOpt, clockOpt, randOpt:
			panic(fmt.Sprintf("job: NewPolicy: %T is per-job data, not policy: pass it beside the Policy", o))
		}
		o.apply(&b)
	}
	p := b.edit()
	q := *p
	q.seal()
	q.over = new(overCache)
	return &q
}

func (p *Policy) apply(b *builder) {
	if p != nil {
		b.use(p)
	}
}

// String describes the policy's effective settings.
func (p *Policy) String() string {
	return fmt.Sprintf("Policy{MaxAttempts: %d, MaxElapsed: %v, AttemptTimeout: %v, MaxWait: %v}",
		p.maxAttempts, p.maxElapsed, p.attemptTimeout, p.maxWait)
}

// MaxAttempts returns the number of attempts the policy allows; 0: unlimited.
func (p *Policy) MaxAttempts() int { return p.maxAttempts }

// MaxElapsed returns the policy's bound on a job's whole run; 0: none.
func (p *Policy) MaxElapsed() time.Duration { return p.maxElapsed }

// AttemptTimeout returns each attempt's own timeout; 0: none.
func (p *Policy) AttemptTimeout() time.Duration { return p.attemptTimeout }

// MaxWait returns the ceiling on a single wait; 0: none.
func (p *Policy) MaxWait() time.Duration { return p.maxWait }

// RetriesOnResult reports whether the policy has a RetryOnResult predicate:
// a job that gives up then returns its last value with the error.
func (p *Policy) RetriesOnResult() bool { return p.result != nil }

// Hooked reports whether the policy has an OnRetry, OnGiveUp or OnSuccess
// hook: an executor with nothing to call may settle a job without leaving
// its lock.
func (p *Policy) Hooked() bool { return p.onRetry != nil || p.onGiveUp != nil || p.onSuccess != nil }

// overlay copies into p the fields that src set.
func (p *Policy) overlay(src *Policy) {
	s := src.set
	if s&fMaxAttempts != 0 {
		p.maxAttempts = src.maxAttempts
	}
	if s&fMaxElapsed != 0 {
		p.maxElapsed = src.maxElapsed
	}
	if s&fAttemptTimeout != 0 {
		p.attemptTimeout = src.attemptTimeout
	}
	if s&fMaxWait != 0 {
		p.maxWait = src.maxWait
	}
	if s&fWait != 0 {
		p.wait = src.wait
	}
	if s&fJitter != 0 {
		p.jitter = src.jitter
	}
	if s&fRetryIf != 0 {
		p.retryIf = src.retryIf
	}
	if s&fResult != 0 {
		p.result, p.resultType = src.result, src.resultType
	}
	if s&fOnRetry != 0 {
		p.onRetry = src.onRetry
	}
	if s&fOnGiveUp != 0 {
		p.onGiveUp = src.onGiveUp
	}
	if s&fOnSuccess != 0 {
		p.onSuccess = src.onSuccess
	}
	p.set |= s
}

// on returns the policy p (a NewPolicy result) means over base.
func (p *Policy) on(base *Policy) *Policy {
	if base == defaults || base == nil || p.over == nil {
		return p
	}
	if m := p.over.last.Load(); m != nil && m.base == base {
		return m.p
	}
	q := *base
	q.set, q.over = 0, nil
	q.overlay(p)
	q.set = p.set
	q.seal()
	p.over.last.Store(&merged{base, &q})
	return &q
}

// builder accumulates policy options over a base.
type builder struct {
	base   *Policy
	shared *Policy // the only policy option so far, if any
	own    Policy  // working copy once more than one policy option applies
	hasOwn bool
}

func (b *builder) reset(base *Policy) {
	if base == nil {
		base = defaults
	}
	*b = builder{base: base}
}

// edit returns the working policy to change one field in.
func (b *builder) edit() *Policy {
	if !b.hasOwn {
		if b.shared != nil {
			b.own = *b.shared.on(b.base)
		} else {
			b.own = *b.base
		}
		b.own.over = nil
		b.hasOwn = true
	}
	return &b.own
}

// use applies a built policy.
func (b *builder) use(p *Policy) {
	if !b.hasOwn && b.shared == nil {
		b.shared = p
		return
	}
	b.edit().overlay(p)
}

// policy returns the resolved policy: the base with no policy option, the
// shared one with exactly one *Policy, a new one otherwise.
func (b *builder) policy() *Policy {
	switch {
	case b.hasOwn:
		p := b.own
		p.seal()
		return &p
	case b.shared != nil:
		return b.shared.on(b.base)
	default:
		return b.base
	}
}

// Config is what a job's options come to: its policy and its per-job data.
type Config struct {
	Policy *Policy
	Key    string
	Clock  clock.Clock // set by the Clock option; nil: the executor's
	Rand   *rand.Rand  // set by the Rand option; nil: the executor's
}

// Configure applies opts left to right over base (nil: the package
// defaults), for an executor that runs jobs of its own (package scheduler,
// or a queue consumer built on Run). With at most one *Policy among opts (and
// any per-job options) it allocates nothing and the policy is shared, not
// copied.
func Configure(base *Policy, opts ...Option) Config {
	if base == nil {
		base = defaults
	}
	p, key, clk, rnd := resolve(base, opts)
	return Config{Policy: p, Key: key, Clock: clk, Rand: rnd}
}

// resolve is Configure without the struct: Do's success path (about 17 ns)
// pays for a struct result.
func resolve(base *Policy, opts []Option) (p *Policy, key string, clk clock.Clock, rnd *rand.Rand) {
	var shared *Policy
	slow := false
	for _, o := range opts {
		switch o := o.(type) {
		case nil:
		case *Policy:
			if shared != nil {
				slow = true
			} else if o != nil {
				shared = o
			}
		case keyOpt:
			key = string(o)
		case clockOpt:
			clk = o.c
		case randOpt:
			rnd = o.r
		default:
			slow = true
		}
	}
	if !slow {
		if shared == nil {
			return base, key, clk, rnd
		}
		return shared.on(base), key, clk, rnd
	}
	var b builder
	b.reset(base)
	for _, o := range opts {
		if o != nil {
			o.apply(&b)
		}
	}
	return b.policy(), key, clk, rnd
}

// CheckResult panics, with a message for the caller, when p's RetryOnResult
// predicate was made for another type than T. Executors call it where the
// job is submitted, so that the misuse panics in the caller's goroutine.
func CheckResult[T any](p *Policy) {
	if p.result == nil {
		return
	}
	if _, ok := p.result.(func(T) bool); !ok {
		panic(fmt.Sprintf("job: RetryOnResult[%s] used with a job of type %s", p.resultType, typeName[T]()))
	}
}

// typeName returns T's name as %T prints it.
func typeName[T any]() string { return fmt.Sprintf("%T", (*T)(nil))[1:] }
