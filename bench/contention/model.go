package contention

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// The model's parameters (see the package doc).
const (
	Base      = 5 * time.Millisecond
	Cap       = 2 * time.Second
	NetMean   = 10 * time.Millisecond
	NetStdDev = 2 * time.Millisecond
)

// Variant is one backoff: a name and the policy of every client.
type Variant struct {
	Name   string
	Policy *job.Policy
}

// Variants are the backoffs of the experiment, in the order of its tables.
var Variants = []Variant{
	{"none", job.NewPolicy(job.MaxAttempts(0), job.Wait(wait.Constant(0)), job.Jitter(jitter.None))},
	{"exponential", job.NewPolicy(job.MaxAttempts(0), job.Wait(wait.Exponential(2*Base, 2, Cap)), job.Jitter(jitter.None))},
	{"full", job.NewPolicy(job.MaxAttempts(0), job.Wait(wait.Exponential(2*Base, 2, Cap)), job.Jitter(jitter.Full))},
	{"equal", job.NewPolicy(job.MaxAttempts(0), job.Wait(wait.Exponential(2*Base, 2, Cap)), job.Jitter(jitter.Equal))},
	{"decorrelated", job.NewPolicy(job.MaxAttempts(0), job.Wait(wait.Decorrelated(Base, Cap)))},
}

// Outcome is what one run measured.
type Outcome struct {
	Calls int           // writes that reached the server
	Time  time.Duration // when the last client got its success reply
}

// server is the row: a version, and the count of writes it received. The
// simulated network is instantaneous at the server, so one mutex suffices.
type server struct {
	mu      sync.Mutex
	version int
	calls   int
}

func (s *server) read() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// write applies a write carrying version v: it succeeds only if the row
// still has that version.
func (s *server) write(v int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if v != s.version {
		return false
	}
	s.version++
	return true
}

var errConflict = errors.New("contention: write lost the race (version changed)")

// client is one of the N clients: its attempt is a read, then a write.
type client struct {
	srv *server
	net *rand.Rand
}

// delay is one message's trip: |Normal(NetMean, NetStdDev)|.
func (c *client) delay() time.Duration {
	d := float64(NetMean) + c.net.NormFloat64()*float64(NetStdDev)
	return time.Duration(math.Abs(d))
}

// attempt is one job attempt: read the version, write it back; it returns
// the simulated time at which the success reply arrived.
func (c *client) attempt(context.Context) (time.Time, error) {
	time.Sleep(c.delay()) // the read travels to the server
	v := c.srv.read()
	time.Sleep(c.delay()) // the version travels back
	time.Sleep(c.delay()) // the write travels to the server
	ok := c.srv.write(v)
	time.Sleep(c.delay()) // the answer travels back
	if !ok {
		return time.Time{}, errConflict
	}
	return time.Now(), nil
}

// Run simulates one run of n clients under v, seeded with seed. It must be
// called inside a testing/synctest bubble (see the package doc); outside
// one it would take the simulated time in real time.
func Run(v Variant, n int, seed uint64) (Outcome, error) {
	ctx := context.Background()
	start := time.Now()
	s := scheduler.New(scheduler.WithWorkers(n), scheduler.WithQueueSize(n))
	srv := &server{}
	futures := make([]*job.Future[time.Time], n)
	for i := range futures {
		c := &client{srv: srv, net: rand.New(rand.NewPCG(seed, uint64(2*i)))}
		jitterSrc := rand.New(rand.NewPCG(seed, uint64(2*i+1)))
		futures[i] = scheduler.Submit(s, ctx, c.attempt, v.Policy, job.Rand(jitterSrc))
	}
	var last time.Time
	var firstErr error
	for i, f := range futures {
		at, err := f.Wait(ctx)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("client %d: %w", i, err)
		}
		if at.After(last) {
			last = at
		}
	}
	if err := s.Shutdown(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return Outcome{}, firstErr
	}
	return Outcome{Calls: srv.calls, Time: last.Sub(start)}, nil
}

// Cell is the mean over runs of one variant at one N.
type Cell struct {
	Variant string
	N       int
	Runs    int
	Calls   float64       // mean calls per run
	Time    time.Duration // mean time per run
}

// Mean folds outcomes into a Cell.
func Mean(variant string, n int, outs []Outcome) Cell {
	c := Cell{Variant: variant, N: n, Runs: len(outs)}
	var t float64
	for _, o := range outs {
		c.Calls += float64(o.Calls)
		t += float64(o.Time)
	}
	if len(outs) > 0 {
		c.Calls /= float64(len(outs))
		c.Time = time.Duration(t / float64(len(outs)))
	}
	return c
}
