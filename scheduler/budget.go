package scheduler

import (
	"fmt"
	"math"
	"time"
)

// Budget configures a retry budget (WithRetryBudget), in the manner of
// Finagle's RetryBudget and gRPC's retry throttling: retries may add at most
// Ratio of the first attempts' load, plus a floor of MinPerSecond.
//
// Each first attempt deposits Ratio tokens; each retry withdraws one token
// when it is scheduled; deposits expire after Window. A reserve of
// MinPerSecond*Window tokens (refilled as deposits expire) lets a quiet
// service retry at all. A retry the budget denies is not attempted: the job
// gives up with job.ErrBudget, a client-side limit.
//
// Worked example: Budget{Ratio: 0.1, MinPerSecond: 10, Window: 10s} over a
// steady 1,000 requests per second. Over any 10 s the first attempts deposit
// 10,000*0.1 = 1,000 tokens and the reserve adds 10*10 = 100: at most 1,100
// retries per 10 s, 110 per second, an 11% retry load at most. When the
// backend fails every request, 89% of the would-be retries are denied
// instead of tripling the load on it; at 5 requests per second, 10.5 retries
// per second are allowed, so a quiet service still retries every failure.
type Budget struct {
	Ratio        float64       // tokens per first attempt, in [0, 1000]; 0.1 allows retries of 10% of requests
	MinPerSecond float64       // retries always allowed per second; >= 0
	Window       time.Duration // how long a deposit counts; 0 means 10s
}

// WithRetryBudget limits retries scheduler-wide, and per key for keyed jobs
// (a retry needs a token from both). Each key's bucket has the same
// parameters and sees only that key's traffic: a key with few jobs lives on
// its MinPerSecond reserve (with MinPerSecond 0 and Ratio < 1, a lone job of
// a key never retries), and a key dropped while idle starts full again. It panics if Ratio is outside [0, 1000],
// MinPerSecond < 0, either is NaN, or Window < 0.
func WithRetryBudget(b Budget) Option {
	if !(b.Ratio >= 0 && b.Ratio <= 1000) || !(b.MinPerSecond >= 0) || math.IsInf(b.MinPerSecond, 0) || b.Window < 0 {
		panic(fmt.Sprintf("scheduler: WithRetryBudget: invalid %+v (Ratio in [0, 1000], MinPerSecond >= 0, Window >= 0)", b))
	}
	if b.Window == 0 {
		b.Window = 10 * time.Second
	}
	return optionFunc(func(c *config) {
		c.budget = &budget{
			Budget:  b,
			slot:    int64(b.Window) / slots,
			deposit: toUnits(b.Ratio),
			reserve: toUnits(b.MinPerSecond * b.Window.Seconds()),
		}
	})
}

// slots is the number of time slices a budget window is kept in.
const slots = 10

// unit is one token (one retry) in the integer units balances are counted
// in: millionths of a token. A Ratio or MinPerSecond with up to six decimals
// (0.1, 0.3, 0.125) is a whole number of units, so ten deposits of 0.1 make
// exactly one token, where float64 sums made 0.99999999999999989.
const unit = 1_000_000

// maxUnits bounds the reserve and every slice's net balance, saturating
// instead of overflowing, so that the reserve plus all slices always fit in
// an int64. It is 7.7e11 tokens: out of reach of any real traffic.
const maxUnits = math.MaxInt64 / (slots + 2)

// toUnits converts a token count to units, rounded to the nearest unit (so
// that the float64 error of 0.1*unit or 0.3*10*unit vanishes) and capped at
// maxUnits. x is >= 0 and not NaN (WithRetryBudget checks); +Inf is capped.
func toUnits(x float64) int64 {
	u := math.Round(x * unit)
	if u >= maxUnits {
		return maxUnits
	}
	return int64(u)
}

// budget is the configuration; bucket the state, scheduler-wide or per key.
type budget struct {
	Budget
	slot    int64 // length of one slice, in scheduler time
	deposit int64 // Ratio, in units
	reserve int64 // MinPerSecond*Window, in units
}

// bucket is a windowed token balance: the net deposits of the last Window,
// kept in slices of Window/slots, plus the reserve; all in units. Guarded
// by the scheduler's lock.
type bucket struct {
	cfg   *budget
	net   [slots]int64
	epoch [slots]int64 // which slice each entry holds
}

func newBucket(cfg *budget) *bucket { return &bucket{cfg: cfg} }

// at returns the entry for time now, clearing it if it held an old slice.
func (b *bucket) at(now int64) *int64 {
	n := b.slice(now)
	i := (n%slots + slots) % slots // now may be negative (a mock clock set back)
	if b.epoch[i] != n {
		b.epoch[i], b.net[i] = n, 0
	}
	return &b.net[i]
}

// slice returns the number of the time slice holding now (floored, so that
// negative times work too).
func (b *bucket) slice(now int64) int64 {
	w := max(b.cfg.slot, 1)
	n := now / w
	if now%w < 0 {
		n--
	}
	return n
}

// units returns the balance at now, in units. It cannot overflow: each of
// its slots+1 terms lies in [-maxUnits, maxUnits].
func (b *bucket) units(now int64) int64 {
	n := b.slice(now)
	sum := b.cfg.reserve
	for i := range b.net {
		if d := n - b.epoch[i]; d >= 0 && d < slots {
			sum += b.net[i]
		}
	}
	return sum
}

// balance returns the tokens available at now.
func (b *bucket) balance(now int64) float64 { return float64(b.units(now)) / unit }

// allows reports whether the balance at now holds a whole token.
func (b *bucket) allows(now int64) bool { return b.units(now) >= unit }

func (b *bucket) deposit(now int64)  { addSat(b.at(now), b.cfg.deposit) }
func (b *bucket) withdraw(now int64) { addSat(b.at(now), -unit) }

// addSat adds d (|d| <= maxUnits) to *p, saturating at ±maxUnits.
func addSat(p *int64, d int64) { *p = min(max(*p+d, -maxUnits), maxUnits) }

// deposit records a first attempt of t. Called with mu.
func (s *Scheduler) deposit(t *task) {
	if s.budget == nil {
		return
	}
	now := s.now()
	s.globalBucket().deposit(now)
	if ks := s.keyOf(t); ks != nil {
		s.keyBucket(ks).deposit(now)
	}
}

// spend asks the budget for a retry of t and withdraws its token. It reports
// false when the budget (scheduler-wide or the key's) denies it. Called with
// mu.
func (s *Scheduler) spend(t *task) bool {
	if s.budget == nil {
		return true
	}
	now := s.now()
	g := s.globalBucket()
	var kb *bucket
	if ks := s.keyOf(t); ks != nil {
		kb = s.keyBucket(ks)
	}
	if !g.allows(now) || (kb != nil && !kb.allows(now)) {
		return false
	}
	g.withdraw(now)
	if kb != nil {
		kb.withdraw(now)
	}
	return true
}

func (s *Scheduler) globalBucket() *bucket {
	if s.global == nil {
		s.global = newBucket(s.budget)
	}
	return s.global
}

func (s *Scheduler) keyBucket(ks *keyState) *bucket {
	if ks.budget == nil {
		ks.budget = newBucket(s.budget)
	}
	return ks.budget
}
