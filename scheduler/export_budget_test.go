package scheduler

import "time"

// Bucket is one retry-budget bucket (WithRetryBudget) without a scheduler,
// for tests of its arithmetic with explicit times: now is scheduler time,
// the time since the scheduler started.
type Bucket struct{ b *bucket }

// NewBucket returns an empty bucket of budget b, configured as
// WithRetryBudget(b) configures a scheduler's (so it panics as that does).
func NewBucket(b Budget) *Bucket {
	var c config
	WithRetryBudget(b).apply(&c)
	return &Bucket{newBucket(c.budget)}
}

// Deposit records a first attempt at now.
func (b *Bucket) Deposit(now time.Duration) { b.b.deposit(int64(now)) }

// Retry asks for a retry at now and withdraws its token, as the scheduler
// does for each bucket a retry needs; it reports false when denied.
func (b *Bucket) Retry(now time.Duration) bool {
	if !b.b.allows(int64(now)) {
		return false
	}
	b.b.withdraw(int64(now))
	return true
}

// Balance returns the tokens available at now, as KeyStats.Budget shows.
func (b *Bucket) Balance(now time.Duration) float64 { return b.b.balance(int64(now)) }
