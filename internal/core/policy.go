package core

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/wait"
)

// Field is one bit per policy field: the fields an option set.
type Field uint16

// The policy fields.
const (
	FMaxAttempts Field = 1 << iota
	FMaxElapsed
	FAttemptTimeout
	FMaxWait
	FWait
	FJitter
	FRetryIf
	FResult
	FOnRetry
	FOnGiveUp
	FOnSuccess
)

// Event is what hooks receive; package job converts it to job.Event, a type
// with the same fields.
type Event struct {
	Attempt int
	Elapsed time.Duration
	Wait    time.Duration
	Err     error
	Key     string
}

// Policy is a resolved retry policy. It is immutable once built and shared by
// pointer between any number of jobs.
type Policy struct {
	MaxAttempts    int
	MaxElapsed     time.Duration
	AttemptTimeout time.Duration
	MaxWait        time.Duration
	Wait           wait.Strategy
	Jitter         jitter.Jitter
	RetryIf        func(error) bool
	Result         any // func(T) bool for the job's T, or nil
	ResultType     string
	OnRetry        func(Event)
	OnGiveUp       func(Event)
	OnSuccess      func(Event)

	Set Field // the fields an option set (for a Policy used as an option)

	needsTime    bool // MaxElapsed, AttemptTimeout or a hook: read the clock at start
	selfJittered bool
}

// Default is the package default policy: 10 attempts, Exponential(100ms, 2,
// 30s) with Full jitter, MaxWait 1h, no MaxElapsed, no AttemptTimeout.
var Default = func() *Policy {
	p := &Policy{
		MaxAttempts: 10,
		MaxWait:     time.Hour,
		Wait:        wait.Exponential(100*time.Millisecond, 2, 30*time.Second),
		Jitter:      jitter.Full,
	}
	p.Seal()
	return p
}()

// Seal computes the derived fields; call it once a Policy is complete.
func (p *Policy) Seal() {
	p.needsTime = p.MaxElapsed > 0 || p.AttemptTimeout > 0 ||
		p.OnRetry != nil || p.OnGiveUp != nil || p.OnSuccess != nil
	p.selfJittered = false
	if sj, ok := p.Wait.(wait.SelfJittered); ok {
		p.selfJittered = sj.SelfJittered()
	}
}

// NeedsTime reports whether a run of p reads the clock before its first
// attempt.
func (p *Policy) NeedsTime() bool { return p.needsTime }

// overlay copies into p the fields that src set.
func (p *Policy) overlay(src *Policy) {
	s := src.Set
	if s&FMaxAttempts != 0 {
		p.MaxAttempts = src.MaxAttempts
	}
	if s&FMaxElapsed != 0 {
		p.MaxElapsed = src.MaxElapsed
	}
	if s&FAttemptTimeout != 0 {
		p.AttemptTimeout = src.AttemptTimeout
	}
	if s&FMaxWait != 0 {
		p.MaxWait = src.MaxWait
	}
	if s&FWait != 0 {
		p.Wait = src.Wait
	}
	if s&FJitter != 0 {
		p.Jitter = src.Jitter
	}
	if s&FRetryIf != 0 {
		p.RetryIf = src.RetryIf
	}
	if s&FResult != 0 {
		p.Result, p.ResultType = src.Result, src.ResultType
	}
	if s&FOnRetry != 0 {
		p.OnRetry = src.OnRetry
	}
	if s&FOnGiveUp != 0 {
		p.OnGiveUp = src.OnGiveUp
	}
	if s&FOnSuccess != 0 {
		p.OnSuccess = src.OnSuccess
	}
	p.Set |= s
}

// Shared is a built policy meant to be used as an option by many jobs: its
// fields resolved over Default, plus a one-entry cache of its merge over
// another base (a scheduler's WithDefaults), so that a million jobs submitted
// with one Shared and one scheduler carry one *Policy.
type Shared struct {
	P     Policy // resolved over Default; P.Set says which fields were set
	cache atomic.Pointer[merged]
}

type merged struct {
	base, p *Policy
}

// Over returns the policy s means on top of base.
func (s *Shared) Over(base *Policy) *Policy {
	if base == Default || base == nil {
		return &s.P
	}
	if m := s.cache.Load(); m != nil && m.base == base {
		return m.p
	}
	p := *base
	p.Set = 0
	p.overlay(&s.P)
	p.Set = s.P.Set
	p.Seal()
	s.cache.Store(&merged{base, &p})
	return &p
}

// Builder accumulates policy options. Its zero value is not usable: start
// with Reset. Per-job data (key, clock, random source) is not policy: Resolve
// takes it from the options directly.
type Builder struct {
	base   *Policy
	shared *Shared // the only policy option so far, if any
	own    Policy  // working copy once more than one policy option applies
	hasOwn bool
}

// Reset prepares b to apply options over base (nil: Default).
func (b *Builder) Reset(base *Policy) {
	if base == nil {
		base = Default
	}
	*b = Builder{base: base}
}

// Edit returns the working policy to change one field in.
func (b *Builder) Edit() *Policy {
	if !b.hasOwn {
		if b.shared != nil {
			b.own = *b.shared.Over(b.base)
		} else {
			b.own = *b.base
		}
		b.hasOwn = true
	}
	return &b.own
}

// Use applies a shared policy.
func (b *Builder) Use(s *Shared) {
	if !b.hasOwn && b.shared == nil {
		b.shared = s
		return
	}
	p := b.Edit()
	p.overlay(&s.P)
}

// Policy returns the resolved policy. With no policy option it is the base;
// with exactly one Shared it is shared, not copied.
func (b *Builder) Policy() *Policy {
	switch {
	case b.hasOwn:
		p := b.own
		p.Seal()
		return &p
	case b.shared != nil:
		return b.shared.Over(b.base)
	default:
		return b.base
	}
}

// Standalone returns the working policy as built so far, for NewPolicy:
// fields resolved over Default, Set saying which were set.
func (b *Builder) Standalone() Policy {
	p := *b.Edit()
	p.Seal()
	return p
}

// ApplyOption applies one of package job's options to b; package job sets it
// in its init, for executors that take []job.Option.
var ApplyOption func(o any, b *Builder)

// OptKind says what an option is, for executors' allocation-free fast path.
type OptKind uint8

// The option kinds.
const (
	KindNil    OptKind = iota // a nil option
	KindShared                // a *job.Policy
	KindKey                   // job.Key
	KindClock                 // job.Clock
	KindRand                  // job.Rand
	KindField                 // anything else: a policy field
)

// OptInfo describes one option.
type OptInfo struct {
	Kind   OptKind
	Shared *Shared
	Key    string
	Clock  clock.Clock
	Rand   *rand.Rand
}

// Inspect describes one of package job's options; package job sets it.
var Inspect func(o any) OptInfo

// Resolved is what a job's options come to: its policy and per-job data.
type Resolved struct {
	Policy *Policy
	Key    string
	Clock  clock.Clock // nil: the executor's
	Rand   *rand.Rand  // nil: the executor's
}

// Resolve turns a job's options, applied left to right over base, into its
// policy and per-job data. With at most one Shared among them (and any
// per-job options) it allocates nothing and the policy is shared, not
// copied. The scheduler resolves its jobs' options here; job.Do keeps a
// type-switch twin of this loop for its 17 ns success path (job's resolve).
func Resolve[O any](base *Policy, opts []O) Resolved {
	var r Resolved
	var shared *Shared
	slow := false
	for _, o := range opts {
		in := Inspect(o)
		switch in.Kind {
		case KindShared:
			slow = slow || shared != nil
			shared = in.Shared
		case KindKey:
			r.Key = in.Key
		case KindClock:
			r.Clock = in.Clock
		case KindRand:
			r.Rand = in.Rand
		case KindField:
			slow = true
		}
	}
	switch {
	case slow:
		b := new(Builder)
		b.Reset(base)
		for _, o := range opts {
			ApplyOption(o, b)
		}
		r.Policy = b.Policy()
	case shared != nil:
		r.Policy = shared.Over(base)
	default:
		r.Policy = base
	}
	return r
}
