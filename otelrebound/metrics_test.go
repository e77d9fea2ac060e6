package otelrebound_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/otelrebound"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

var (
	reason  = attribute.Key("rebound.reason")
	outcome = attribute.Key("rebound.outcome")
	keyAttr = attribute.Key("rebound.key")
)

// A known mix of jobs gives exact counters and histograms, equal to the
// scheduler's Stats.
func TestCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMeter()
		s := scheduler.New(scheduler.WithWorkers(4))
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
		pol := job.NewPolicy(job.MaxAttempts(3), job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None))

		var futures []*job.Future[struct{}]
		submit := func(ctx context.Context, op func(context.Context) error, opts ...job.Option) {
			futures = append(futures, s.Go(ctx, op, append([]job.Option{pol}, opts...)...))
		}
		for range 3 { // succeed at once: 1 attempt each
			submit(ctx, failing(0, nil))
		}
		for range 2 { // fail once, then succeed: 2 attempts, 1 retry each
			submit(ctx, failing(1, errBoom))
		}
		submit(ctx, failing(9, errBoom))                                        // exhausted: 3 attempts, 2 retries
		submit(ctx, failing(9, job.Permanent(errBoom)))                         // permanent: 1 attempt
		submit(ctx, failing(9, errBoom), job.MaxElapsed(1500*time.Millisecond)) // attempts at 0s and 1s; 2s is past the deadline: 2 attempts, 1 retry
		cctx, cancel := context.WithCancel(ctx)
		submit(cctx, failing(9, errBoom)) // canceled while parked: 1 attempt, 1 retry
		synctest.Wait()
		cancel()
		for _, f := range futures {
			f.Wait(ctx)
		}

		got := m.collect(t)
		for _, c := range []struct {
			name string
			kv   []attribute.KeyValue
			want int64
		}{
			{"rebound.jobs.submitted", nil, 9},
			{"rebound.jobs.succeeded", nil, 5},
			{"rebound.jobs.gave_up", []attribute.KeyValue{reason.String("exhausted")}, 1},
			{"rebound.jobs.gave_up", []attribute.KeyValue{reason.String("permanent")}, 1},
			{"rebound.jobs.gave_up", []attribute.KeyValue{reason.String("deadline")}, 1},
			{"rebound.jobs.gave_up", []attribute.KeyValue{reason.String("budget")}, 0},
			{"rebound.jobs.canceled", []attribute.KeyValue{reason.String("context")}, 1},
			{"rebound.jobs.canceled", []attribute.KeyValue{reason.String("closed")}, 0},
			{"rebound.attempts", nil, 3 + 2*2 + 3 + 1 + 2 + 1},
			{"rebound.retries", nil, 2 + 2 + 1 + 1},
			{"rebound.retries.denied", nil, 0},
			{"rebound.attempts.abandoned", nil, 0},
			{"rebound.jobs.queued", nil, 0},
			{"rebound.jobs.running", nil, 0},
			{"rebound.jobs.parked", nil, 0},
			{"rebound.jobs.gated", nil, 0},
			{"rebound.keys.paused", nil, 0},
		} {
			if v := got.value(t, c.name, c.kv...); v != c.want {
				t.Errorf("%s%s = %d, want %d", c.name, attrs(attribute.NewSet(c.kv...)), v, c.want)
			}
		}

		st := s.Stats()
		sum := func(name string) (n int64) {
			for _, v := range got.points(t, name) {
				n += v
			}
			return n
		}
		for _, c := range []struct {
			name  string
			stats uint64
		}{
			{"rebound.jobs.submitted", st.Submitted},
			{"rebound.jobs.succeeded", st.Succeeded},
			{"rebound.jobs.gave_up", st.GaveUp},
			{"rebound.jobs.canceled", st.Canceled},
			{"rebound.retries", st.Retried},
		} {
			if v := sum(c.name); v != int64(c.stats) {
				t.Errorf("%s = %d, Stats says %d", c.name, v, c.stats)
			}
		}

		waits := got.histograms(t, "rebound.retry.wait")
		if w := waits["{}"]; w.count != 6 || w.sum != 6 {
			t.Errorf("rebound.retry.wait = %d waits summing to %vs, want 6 summing to 6s", w.count, w.sum)
		}
		tries := got.histograms(t, "rebound.job.attempts")
		for _, c := range []struct {
			outcome string
			want    hist
		}{
			{"succeeded", hist{5, 3 + 2*2}},
			{"gave_up", hist{3, 3 + 1 + 2}},
			{"canceled", hist{1, 1}},
		} {
			if h := tries[attrs(attribute.NewSet(outcome.String(c.outcome)))]; h != c.want {
				t.Errorf("rebound.job.attempts{outcome=%s} = %d jobs, %v attempts; want %d, %v", c.outcome, h.count, h.sum, c.want.count, c.want.sum)
			}
		}
		must(t, s.Shutdown(ctx))
	})
}

// A retry the budget denies, and an attempt abandoned past its
// AttemptTimeout, are counted with their reasons.
func TestBudgetAndAbandoned(t *testing.T) {
	cases := []struct {
		name string
		opts []scheduler.Option
		run  func(s *scheduler.Scheduler, release <-chan struct{}) *job.Future[struct{}]
		want map[string]map[string]int64
	}{{
		name: "budget",
		opts: []scheduler.Option{scheduler.WithRetryBudget(scheduler.Budget{})}, // no token ever
		run: func(s *scheduler.Scheduler, _ <-chan struct{}) *job.Future[struct{}] {
			return s.Go(context.Background(), failing(9, errBoom))
		},
		want: map[string]map[string]int64{
			"rebound.jobs.gave_up":       {"{rebound.reason=budget}": 1},
			"rebound.retries.denied":     {"{}": 1},
			"rebound.retries":            {"{}": 0},
			"rebound.attempts":           {"{}": 1},
			"rebound.attempts.abandoned": {"{}": 0},
		},
	}, {
		name: "abandoned",
		opts: []scheduler.Option{scheduler.WithGrace(0)},
		run: func(s *scheduler.Scheduler, release <-chan struct{}) *job.Future[struct{}] {
			return s.Go(context.Background(), func(context.Context) error {
				<-release // ignores its context
				return nil
			}, job.AttemptTimeout(time.Second))
		},
		want: map[string]map[string]int64{
			"rebound.jobs.gave_up":       {"{rebound.reason=deadline}": 1},
			"rebound.retries.denied":     {"{}": 0},
			"rebound.attempts":           {"{}": 1},
			"rebound.attempts.abandoned": {"{}": 1},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMeter()
				s := scheduler.New(c.opts...)
				must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
				release := make(chan struct{})
				defer close(release)
				f := c.run(s, release)
				<-f.Done()
				got := m.collect(t)
				for name, want := range c.want {
					for set, v := range want {
						if g := got.points(t, name)[set]; g != v {
							t.Errorf("%s%s = %d, want %d", name, set, g, v)
						}
					}
				}
				if h := got.histograms(t, "rebound.job.attempts")["{rebound.outcome=gave_up}"]; h != (hist{1, 1}) {
					t.Errorf("rebound.job.attempts{gave_up} = %+v, want 1 job of 1 attempt", h)
				}
				must(t, s.Close())
			})
		})
	}
}

// Jobs that Shutdown cancels are counted with reason closed, seen by a
// collection while Shutdown waits for an attempt that ignores its context.
func TestCanceledByShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMeter()
		s := scheduler.New(scheduler.WithGrace(time.Minute))
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
		pol := job.NewPolicy(job.Wait(wait.Constant(time.Hour)), job.Jitter(jitter.None))
		parked := s.Go(ctx, failing(9, errBoom), pol)
		release := make(chan struct{})
		running := s.Go(ctx, func(context.Context) error { <-release; return nil }, pol)
		synctest.Wait()

		done, cancel := context.WithCancel(ctx)
		cancel()
		shut := make(chan error)
		go func() { shut <- s.Shutdown(done) }()
		<-parked.Done()
		synctest.Wait() // Shutdown waits for the running attempt
		got := m.collect(t)
		if v := got.value(t, "rebound.jobs.canceled", reason.String("closed")); v != 1 {
			t.Errorf("rebound.jobs.canceled{closed} = %d, want 1", v)
		}
		if v := got.value(t, "rebound.jobs.running"); v != 1 {
			t.Errorf("rebound.jobs.running = %d, want 1", v)
		}
		close(release)
		if err := <-shut; !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown = %v, want context.Canceled", err)
		}
		<-running.Done()
	})
}

// The gauges read the scheduler's state at each collection.
func TestGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMeter()
		s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithKeyLimit(1))
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
		release := make(chan struct{})
		block := func(context.Context) error { <-release; return nil }
		pol := job.NewPolicy(job.Wait(wait.Constant(time.Hour)), job.Jitter(jitter.None))

		var futures []*job.Future[struct{}]
		for range 3 { // parked for an hour
			futures = append(futures, s.Go(ctx, failing(1, errBoom), pol))
		}
		synctest.Wait()
		futures = append(futures, s.Go(ctx, block, job.Key("k"))) // running, holds k's slot
		synctest.Wait()
		futures = append(futures, s.Go(ctx, block, job.Key("k"))) // gated behind it
		futures = append(futures, s.Go(ctx, block))               // running: the second worker
		synctest.Wait()
		futures = append(futures, s.Go(ctx, block)) // queued: no worker free
		s.PauseKey("k", time.Minute)
		synctest.Wait()

		got := m.collect(t)
		want := map[string]int64{
			"rebound.jobs.queued":  1,
			"rebound.jobs.running": 2,
			"rebound.jobs.parked":  3,
			"rebound.jobs.gated":   1,
			"rebound.keys.paused":  1,
		}
		for name, w := range want {
			if v := got.value(t, name); v != w {
				t.Errorf("%s = %d, want %d", name, v, w)
			}
		}
		close(release)
		must(t, s.Close())
		for _, f := range futures {
			<-f.Done()
		}
	})
}

// rebound.key is an attribute only for the keys allowed; the other jobs are
// counted without it.
func TestKeyAttributes(t *testing.T) {
	keys := []string{"a", "a", "ab", "b", "b", "b", ""}
	cases := []struct {
		name string
		opt  otelrebound.Option
		want map[string]int64
	}{
		{"none", nil, map[string]int64{"{}": 7}},
		{"WithKeys", otelrebound.WithKeys("a", "c"), map[string]int64{"{rebound.key=a}": 2, "{}": 5}},
		{"WithKeyFilter", otelrebound.WithKeyFilter(func(k string) bool { return strings.HasPrefix(k, "a") }),
			map[string]int64{"{rebound.key=a}": 2, "{rebound.key=ab}": 1, "{}": 4}},
		{"WithKeyFilter(nil)", otelrebound.WithKeyFilter(nil), map[string]int64{"{}": 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				m := newMeter()
				s := scheduler.New()
				opts := []otelrebound.Option{otelrebound.WithMeterProvider(m)}
				if c.opt != nil {
					opts = append(opts, c.opt)
				}
				must(t, otelrebound.Instrument(s, opts...))
				for _, k := range keys {
					s.Go(ctx, failing(0, nil), job.Key(k))
				}
				must(t, s.WaitSettled(ctx))
				got := m.collect(t)
				for _, name := range []string{"rebound.jobs.submitted", "rebound.jobs.succeeded", "rebound.attempts"} {
					if p := got.points(t, name); !maps.Equal(p, c.want) {
						t.Errorf("%s = %v, want %v", name, p, c.want)
					}
				}
				tries := got.histograms(t, "rebound.job.attempts")
				for set, n := range c.want {
					var k string
					if set != "{}" {
						k = strings.TrimSuffix(strings.TrimPrefix(set, "{rebound.key="), "}")
						set = attrs(attribute.NewSet(keyAttr.String(k), outcome.String("succeeded")))
					} else {
						set = attrs(attribute.NewSet(outcome.String("succeeded")))
					}
					if h := tries[set]; h.count != uint64(n) {
						t.Errorf("rebound.job.attempts%s = %d jobs, want %d", set, h.count, n)
					}
				}
				if len(tries) != len(c.want) {
					t.Errorf("rebound.job.attempts has %d points, want %d: %v", len(tries), len(c.want), tries)
				}
				for _, name := range gauges {
					if p := got.points(t, name); len(p) != 1 || p["{}"] != 0 {
						t.Errorf("%s = %v, want one point {}: 0", name, p)
					}
				}
				must(t, s.Shutdown(ctx))
			})
		})
	}
}

// Once the scheduler has stopped, nothing of it is reported: the observable
// instruments report no point, and the histograms record nothing more
// (what they recorded before stays with the SDK).
func TestNothingAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMeter()
		s := scheduler.New()
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
		pol := job.NewPolicy(job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None))
		<-s.Go(ctx, failing(1, errBoom), pol).Done()
		before := m.collect(t)
		for _, name := range append(counters, gauges...) {
			if before.points(t, name) == nil {
				t.Errorf("%s: no point before the stop", name)
			}
		}

		must(t, s.Shutdown(ctx))
		f := s.Go(ctx, failing(0, nil), pol) // after the stop: resolved with job.ErrClosed
		if _, err := f.Wait(ctx); !errors.Is(err, job.ErrClosed) {
			t.Fatalf("Go after Shutdown: %v, want job.ErrClosed", err)
		}
		after := m.collect(t)
		for _, name := range append(counters, gauges...) {
			if p := after.points(t, name); p != nil {
				t.Errorf("%s after the stop = %v, want no point", name, p)
			}
		}
		for _, name := range []string{"rebound.retry.wait", "rebound.job.attempts"} {
			if b, a := before.histograms(t, name), after.histograms(t, name); !maps.Equal(a, b) {
				t.Errorf("%s after the stop = %v, want %v as before", name, a, b)
			}
		}
	})
}

// A second Instrument fails while the first holds: nothing is counted twice.
func TestInstrumentTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMeter()
		s := scheduler.New()
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)))
		if err := otelrebound.Instrument(s, otelrebound.WithMeterProvider(m)); !errors.Is(err, otelrebound.ErrInstrumented) {
			t.Fatalf("second Instrument = %v, want ErrInstrumented", err)
		}
		other := scheduler.New() // another scheduler is not affected
		must(t, otelrebound.Instrument(other, otelrebound.WithMeterProvider(newMeter())))
		<-s.Go(ctx, failing(0, nil)).Done()
		if v := m.collect(t).value(t, "rebound.jobs.submitted"); v != 1 {
			t.Errorf("rebound.jobs.submitted = %d, want 1", v)
		}
		must(t, s.Shutdown(ctx))
		must(t, other.Shutdown(ctx))
	})
}

// Without WithMeterProvider, the global provider is used.
func TestGlobalMeterProvider(t *testing.T) {
	m := newMeter()
	otel.SetMeterProvider(m)
	t.Cleanup(func() { otel.SetMeterProvider(noop.NewMeterProvider()) })
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := scheduler.New()
		must(t, otelrebound.Instrument(s))
		<-s.Go(ctx, failing(0, nil)).Done()
		if v := m.collect(t).value(t, "rebound.jobs.submitted"); v != 1 {
			t.Errorf("rebound.jobs.submitted = %d, want 1", v)
		}
		must(t, s.Shutdown(ctx))
	})
}

// Instrument panics on a nil scheduler.
func TestInstrumentNil(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(r.(string), "otelrebound: ") {
			t.Errorf("Instrument(nil) panicked with %v, want an otelrebound: message", r)
		}
	}()
	otelrebound.Instrument(nil)
}

// Collections running while jobs of many goroutines end see consistent
// tallies, and the last equals the scheduler's Stats (run with -race).
func TestConcurrentCollect(t *testing.T) {
	ctx := context.Background()
	m := newMeter()
	s := scheduler.New(scheduler.WithWorkers(8))
	must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(m), otelrebound.WithKeys("k0", "k1")))
	pol := job.NewPolicy(job.MaxAttempts(3), job.Wait(wait.Constant(time.Millisecond)), job.Jitter(jitter.None))

	stop := make(chan struct{})
	collected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				collected <- n
				return
			default:
			}
			m.collect(t)
			n++
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := []string{"k0", "k1", "k2", ""}[(g+i)%4]
				<-s.Go(ctx, failing(i%4, errBoom), pol, job.Key(k)).Done()
			}
		})
	}
	wg.Wait()
	close(stop)
	if n := <-collected; n == 0 {
		t.Log("no collection ran during the jobs")
	}

	got := m.collect(t)
	st := s.Stats()
	sum := func(name string) (n int64) {
		for _, v := range got.points(t, name) {
			n += v
		}
		return n
	}
	for _, c := range []struct {
		name  string
		stats uint64
	}{
		{"rebound.jobs.submitted", st.Submitted},
		{"rebound.jobs.succeeded", st.Succeeded},
		{"rebound.jobs.gave_up", st.GaveUp},
		{"rebound.retries", st.Retried},
	} {
		if v := sum(c.name); v != int64(c.stats) {
			t.Errorf("%s = %d, Stats says %d", c.name, v, c.stats)
		}
	}
	if v := sum("rebound.jobs.submitted"); v != 800 {
		t.Errorf("rebound.jobs.submitted = %d, want 800", v)
	}
	if v := got.value(t, "rebound.jobs.submitted", keyAttr.String("k0")); v != 200 {
		t.Errorf("rebound.jobs.submitted{k0} = %d, want 200", v)
	}
	must(t, s.Shutdown(ctx))
}
