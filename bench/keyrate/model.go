package keyrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// The model's parameters (see the package doc).
const (
	JobsPerHost = 2000
	Workers     = 64
	RTT         = 20 * time.Millisecond  // every answer, accepted or throttled, arrives RTT after the request
	BurstWindow = 100 * time.Millisecond // a server's bucket holds this much of its capacity
	Base        = 50 * time.Millisecond  // the first retry's backoff ceiling
	Cap         = 2 * time.Second        // the backoff's cap
	Hint        = time.Second            // Retry-After of the second throttle kind
	FixedRate   = 50.0                   // the fixed-rate variant's rate per key
	FixedBurst  = 5                      // and its burst (100 ms of it)
	ClientKey   = "client"               // the one key of the client-wide variant
	maxWait     = 24 * time.Hour         // no job may give up waiting
)

// Host is one server: its name (the job key) and its hidden capacity.
type Host struct {
	Name     string
	Capacity float64 // requests accepted per second: its token bucket's rate
}

// Hosts are the servers of the experiment, slowest first.
var Hosts = []Host{{"slow", 20}, {"medium", 100}, {"fast", 500}}

// Throttle is how a server answers a request over its capacity.
type Throttle struct {
	Name string
	err  error // what the operation returns for it
	// Bucket is how much of its capacity a server's bucket holds; 0:
	// BurstWindow.
	Bucket time.Duration
}

// bucket returns how much of its capacity a server's bucket holds.
func (th Throttle) bucket() time.Duration {
	if th.Bucket > 0 {
		return th.Bucket
	}
	return BurstWindow
}

// WithBucket returns th answered by servers whose buckets hold d of their
// capacity.
func (th Throttle) WithBucket(d time.Duration) Throttle {
	th.Bucket = d
	return th
}

// OnePauseBound is the most of host h's capacity a client can use under a
// throttle with Retry-After hint, to a server whose bucket holds bucket
// of its capacity, when its first request over capacity comes at the start
// (a key is unrestricted until it is throttled) and it is never throttled
// again: it finishes jobs successes in T = hint + (jobs - b - min(b,
// capacity*hint)) / capacity, the initial bucket b spent at once and the
// bucket refilled during the pause spent as it ends; used = jobs /
// (capacity*T). Each further throttle adds a hint to T.
func OnePauseBound(h Host, jobs int, bucket, hint time.Duration) float64 {
	b := max(1, h.Capacity*bucket.Seconds())
	refill := min(b, h.Capacity*hint.Seconds())
	t := hint.Seconds() + max(0, float64(jobs)-b-refill)/h.Capacity
	return float64(jobs) / (h.Capacity * t)
}

var errThrottled = errors.New("keyrate: 429 Too Many Requests")

// Throttles are the two kinds of answer over capacity: a 429 without
// Retry-After (marked with job.Throttled), and one with Retry-After: 1
// (job.RetryAfter, which is a throttle and also pauses the key for 1s).
var Throttles = []Throttle{
	{Name: "429", err: job.Throttled(errThrottled)},
	{Name: "429 + Retry-After: 1", err: job.RetryAfter(errThrottled, Hint)},
}

// Variant is one way of pacing the client: the key of a host's jobs, and
// the scheduler options that pace them.
type Variant struct {
	Name    string
	Key     func(Host) string
	Options func() []scheduler.Option
	// Window, if > 0, bounds each host's jobs in the scheduler at once:
	// the client submits a host's next job when one of its jobs ends,
	// instead of submitting them all at the start.
	Window int
}

func perHost(h Host) string { return h.Name }
func perClient(Host) string { return ClientKey }

func unpaced() []scheduler.Option { return nil }

func fixed() []scheduler.Option {
	return []scheduler.Option{scheduler.WithKeyRate(FixedRate, FixedBurst)}
}

func adaptive(opts ...scheduler.AdaptiveOption) func() []scheduler.Option {
	return func() []scheduler.Option { return []scheduler.Option{scheduler.WithAdaptiveKeyRate(opts...)} }
}

// Variants are the pacing variants of the experiment, in the order of its
// tables.
var Variants = []Variant{
	{Name: "none", Key: perHost, Options: unpaced},
	{Name: "fixed 50/s", Key: perHost, Options: fixed},
	{Name: "client-wide adaptive", Key: perClient, Options: adaptive()},
	{Name: "per-key adaptive", Key: perHost, Options: adaptive()},
}

// SideVariants are per-key adaptive rates with what the client can change
// without touching the scheduler: a bound on each host's jobs in the
// scheduler at once (so that fewer of them wait for a token at a time), and
// the adaptive tuning options.
var SideVariants = []Variant{
	{Name: "per-key adaptive, <= 32 jobs per host at once", Key: perHost, Options: adaptive(), Window: 32},
	{Name: "per-key adaptive, beta 0.9, scale 4, floor 5", Key: perHost, Options: adaptive(
		scheduler.AdaptiveBeta(0.9), scheduler.AdaptiveScale(4), scheduler.AdaptiveFloor(5))},
}

// Policy is every job's: exponential backoff from Base to Cap with full
// jitter, attempts unlimited, and no wait long enough to give up on.
var Policy = job.NewPolicy(
	job.MaxAttempts(0),
	job.Wait(wait.Exponential(Base, 2, Cap)),
	job.Jitter(jitter.Full),
	job.MaxWait(maxWait),
)

// server is one host: a token bucket on the bubble's clock, and what it
// saw.
type server struct {
	Host
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time // of the last refill
	HostOutcome
}

func newServer(h Host, bucket time.Duration, start time.Time) *server {
	b := max(1, h.Capacity*bucket.Seconds())
	return &server{Host: h, burst: b, tokens: b, last: start}
}

// handle answers a request arriving at now (since the run's start): it
// reports whether the bucket had a token for it.
func (s *server) handle(now time.Time, since time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = min(s.burst, s.tokens+now.Sub(s.last).Seconds()*s.Capacity)
	s.last = now
	if s.Attempts == 0 {
		s.First = since
	}
	s.Attempts++
	if s.tokens < 1 {
		s.Throttled++
		return false
	}
	s.tokens--
	s.Succeeded++
	s.LastOK = since
	return true
}

func (s *server) counts() (attempts, throttled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Attempts, s.Throttled
}

// HostOutcome is what one host saw in one run. Times count from the run's
// start.
type HostOutcome struct {
	Attempts  int           // requests that reached it
	Throttled int           // of which over capacity
	Succeeded int           // of which accepted
	First     time.Duration // first request's arrival
	LastOK    time.Duration // last accepted request's arrival
}

// Busy is the host's busy period: from its first request to its last
// accepted one.
func (o HostOutcome) Busy() time.Duration { return o.LastOK - o.First }

// Goodput is the accepted requests per second over the busy period, as a
// share of capacity (a share above 1 is the bucket's initial burst).
func (o HostOutcome) Goodput(capacity float64) float64 {
	if o.Busy() <= 0 {
		return 0
	}
	return float64(o.Succeeded) / o.Busy().Seconds() / capacity
}

// ThrottledShare is the share of the host's requests that were throttled.
func (o HostOutcome) ThrottledShare() float64 {
	if o.Attempts == 0 {
		return 0
	}
	return float64(o.Throttled) / float64(o.Attempts)
}

// Completion is when the client received the host's last success.
func (o HostOutcome) Completion() time.Duration { return o.LastOK + RTT }

// Sample is one point of a run's trace: per host, the key's rate at the
// sample's time (0: not paced) and the requests and throttles since the
// previous sample.
type Sample struct {
	At        time.Duration
	Rate      []float64
	Attempts  []int
	Throttled []int
}

// Outcome is what one run measured, per host (in the order of Hosts).
type Outcome struct {
	Hosts []HostOutcome
	Trace []Sample // when asked for
}

// Run simulates one run: jobsPerHost jobs for each host, submitted
// interleaved at the start, on a scheduler with Workers workers, paced as
// v says, the servers answering over capacity as th says, the jitter
// seeded with seed. A trace interval > 0 samples the keys' rates and the
// servers' counts that often. Run must be called inside a testing/synctest
// bubble (see the package doc); outside one it would take the simulated
// time in real time.
func Run(v Variant, th Throttle, jobsPerHost int, seed uint64, trace time.Duration) (Outcome, error) {
	ctx := context.Background()
	start := time.Now()
	opts := append([]scheduler.Option{
		scheduler.WithWorkers(Workers),
		scheduler.WithQueueSize(jobsPerHost * len(Hosts)),
		scheduler.WithRand(seed),
	}, v.Options()...)
	s := scheduler.New(opts...)

	servers := make([]*server, len(Hosts))
	ops := make([]func(context.Context) error, len(Hosts))
	keys := make([]job.Option, len(Hosts))
	for i, h := range Hosts {
		srv := newServer(h, th.bucket(), start)
		servers[i] = srv
		ops[i] = func(context.Context) error {
			now := time.Now()
			ok := srv.handle(now, now.Sub(start))
			time.Sleep(RTT) // the answer travels back
			if !ok {
				return th.err
			}
			return nil
		}
		keys[i] = job.Key(v.Key(h))
	}

	var samples []Sample
	stop := make(chan struct{})
	sampled := make(chan struct{})
	if trace > 0 {
		go func() {
			defer close(sampled)
			prev := make([][2]int, len(Hosts))
			tick := time.NewTicker(trace)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					smp := Sample{At: now.Sub(start)}
					for i, h := range Hosts {
						ks, _ := s.KeyStats(v.Key(h))
						a, t := servers[i].counts()
						smp.Rate = append(smp.Rate, ks.Rate)
						smp.Attempts = append(smp.Attempts, a-prev[i][0])
						smp.Throttled = append(smp.Throttled, t-prev[i][1])
						prev[i] = [2]int{a, t}
					}
					samples = append(samples, smp)
				}
			}
		}()
	} else {
		close(sampled)
	}

	futures := make([]*job.Future[struct{}], jobsPerHost*len(Hosts)) // job j of host i at j*len(Hosts)+i
	if v.Window <= 0 {
		for j := range jobsPerHost {
			for i := range Hosts {
				futures[j*len(Hosts)+i] = s.Go(ctx, ops[i], Policy, keys[i])
			}
		}
	} else {
		var feeders sync.WaitGroup
		for i := range Hosts {
			feeders.Go(func() {
				window := make(chan struct{}, v.Window)
				for j := range jobsPerHost {
					window <- struct{}{}
					f := s.Go(ctx, ops[i], Policy, keys[i])
					futures[j*len(Hosts)+i] = f
					go func() {
						<-f.Done()
						<-window
					}()
				}
			})
		}
		feeders.Wait()
	}
	var firstErr error
	for i, f := range futures {
		if _, err := f.Wait(ctx); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("job %d (%s): %w", i, Hosts[i%len(Hosts)].Name, err)
		}
	}
	close(stop)
	<-sampled
	if err := s.Shutdown(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return Outcome{}, firstErr
	}
	out := Outcome{Trace: samples}
	for _, srv := range servers {
		out.Hosts = append(out.Hosts, srv.HostOutcome)
	}
	return out, nil
}

// Cell is the mean over runs of one host under one variant and one kind
// of throttle.
type Cell struct {
	Variant    string
	Throttle   string
	Host       Host
	Runs       int
	Goodput    float64       // mean share of capacity used over the busy period
	Throttled  float64       // mean share of requests throttled
	Attempts   float64       // mean requests per run
	Completion time.Duration // mean time of the last success
}

// Mean folds the runs' outcomes into one Cell per host.
func Mean(variant, throttle string, outs []Outcome) []Cell {
	cells := make([]Cell, len(Hosts))
	for i, h := range Hosts {
		c := Cell{Variant: variant, Throttle: throttle, Host: h, Runs: len(outs)}
		var done float64
		for _, o := range outs {
			ho := o.Hosts[i]
			c.Goodput += ho.Goodput(h.Capacity)
			c.Throttled += ho.ThrottledShare()
			c.Attempts += float64(ho.Attempts)
			done += float64(ho.Completion())
		}
		if n := float64(len(outs)); n > 0 {
			c.Goodput /= n
			c.Throttled /= n
			c.Attempts /= n
			c.Completion = time.Duration(done / n)
		}
		cells[i] = c
	}
	return cells
}
