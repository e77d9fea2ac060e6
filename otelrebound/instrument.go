package otelrebound

import (
	"errors"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/rebound-go/rebound/scheduler"
)

// scope names the meter and the tracer.
const scope = "github.com/rebound-go/rebound/otelrebound"

// instrumented holds the observer of each instrumented scheduler until its
// Stopped event, so that a second Instrument fails instead of counting
// everything twice. The SDK's callback registration keeps the scheduler
// reachable for as long anyway.
var instrumented sync.Map // *scheduler.Scheduler → *observer

// Instrument exports the metrics of s (see the package doc) through a meter
// of the provider set by WithMeterProvider, by default the global one, and
// traces its attempts when WithTracerProvider is given. Call it right after
// scheduler.New: the counters count the events from Instrument on.
//
// It sets the scheduler's Observer with s.Observe. Setting another observer
// on s later stops the counters, histograms and spans, but not the gauges,
// which report until s stops. Once s has stopped (Shutdown or Close), the
// callback is unregistered and nothing of s is reported any more.
// Instrument s before it stops: a
// scheduler instrumented after its stop never sends the Stopped event, and
// its gauges report zeros until the meter provider shuts down.
//
// Instrument returns ErrInstrumented when s is instrumented already and has
// not stopped, or the meter's error when it could not create an instrument
// or register the callback; s is then left as it was. It panics if s is nil.
// It is safe for concurrent use.
func Instrument(s *scheduler.Scheduler, opts ...Option) error {
	if s == nil {
		panic("otelrebound: Instrument of a nil scheduler")
	}
	cfg := newConfig(opts)
	o := newObserver(s, cfg)
	if _, loaded := instrumented.LoadOrStore(s, o); loaded {
		return ErrInstrumented
	}
	if err := o.register(cfg.meters.Meter(scope)); err != nil {
		instrumented.CompareAndDelete(s, o)
		return err
	}
	if cfg.tracers != nil {
		o.tracer = cfg.tracers.Tracer(scope)
	}
	s.Observe(o)
	return nil
}

// register creates the instruments and registers the callback of the
// observable ones.
func (o *observer) register(m metric.Meter) error {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		g, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return g
	}
	in := &o.in
	in.submitted = counter("rebound.jobs.submitted", "{job}", "Jobs submitted.")
	in.succeeded = counter("rebound.jobs.succeeded", "{job}", "Jobs that succeeded.")
	in.gaveUp = counter("rebound.jobs.gave_up", "{job}", "Jobs the policy gave up on, by rebound.reason.")
	in.canceled = counter("rebound.jobs.canceled", "{job}", "Jobs canceled by their context (rebound.reason context) or by Shutdown or Close (closed).")
	in.attempts = counter("rebound.attempts", "{attempt}", "Attempts started.")
	in.retries = counter("rebound.retries", "{retry}", "Retries scheduled.")
	in.denied = counter("rebound.retries.denied", "{retry}", "Retries denied by the retry budget.")
	in.abandoned = counter("rebound.attempts.abandoned", "{attempt}", "Attempts abandoned: they ignored their context past the grace.")
	in.queued = gauge("rebound.jobs.queued", "{job}", "Jobs waiting for a worker.")
	in.running = gauge("rebound.jobs.running", "{job}", "Attempts running.")
	in.parked = gauge("rebound.jobs.parked", "{job}", "Jobs waiting for a retry on the timer heap.")
	in.gated = gauge("rebound.jobs.gated", "{job}", "Jobs waiting for a slot of their key.")
	in.paused = gauge("rebound.keys.paused", "{key}", "Keys paused by a Retry-After hint.")
	var err error
	o.wait, err = m.Float64Histogram("rebound.retry.wait", metric.WithUnit("s"),
		metric.WithDescription("The wait before each retry."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
	check(err)
	o.tries, err = m.Int64Histogram("rebound.job.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts per ended job, by rebound.outcome."),
		metric.WithExplicitBucketBoundaries(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100))
	check(err)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	o.reg, err = m.RegisterCallback(o.collect,
		in.submitted, in.succeeded, in.gaveUp, in.canceled, in.attempts, in.retries, in.denied, in.abandoned,
		in.queued, in.running, in.parked, in.gated, in.paused)
	return err
}
