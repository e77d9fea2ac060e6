package otelrebound

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// The attributes.
const (
	attrKey     = attribute.Key("rebound.key")
	attrReason  = attribute.Key("rebound.reason")
	attrOutcome = attribute.Key("rebound.outcome")
	attrAttempt = attribute.Key("rebound.attempt")
	attrWait    = attribute.Key("rebound.retry.wait")
	attrErrType = attribute.Key("error.type") // OpenTelemetry's semantic convention
)

// How a job ended, as the rebound.outcome of rebound.job.attempts.
const (
	succeeded = iota
	gaveUp
	canceled
	nOutcomes
)

var outcomes = [nOutcomes]string{"succeeded", "gave_up", "canceled"}

// Why the policy gave up, as rebound.reason: the sentinels of package job.
var giveUps = [...]struct {
	err  error
	name string
}{
	{job.ErrExhausted, "exhausted"},
	{job.ErrDeadline, "deadline"},
	{job.ErrPermanent, "permanent"},
	{job.ErrBudget, "budget"},
}

// Why a job was canceled, as rebound.reason.
const (
	byContext = iota // the job's context or Future.Cancel
	byClose          // Shutdown or Close
	nCancels
)

var cancels = [nCancels]string{"context", "closed"}

// classify says how a job or attempt ended with reason (nil: success), and
// the index of the reason in giveUps or cancels. A job's Reason is one of
// package job's sentinels or its context's cause (job.Error): the
// sentinels of a give-up are the policy's, anything else ended the job from
// outside.
func classify(reason error) (outcome, why int) {
	switch reason {
	case nil:
		return succeeded, 0
	case job.ErrClosed:
		return canceled, byClose
	}
	for i, g := range giveUps {
		if reason == g.err {
			return gaveUp, i
		}
	}
	return canceled, byContext
}

// instruments are the observable instruments.
type instruments struct {
	submitted, succeeded, gaveUp, canceled metric.Int64ObservableCounter
	attempts, retries, denied, abandoned   metric.Int64ObservableCounter
	queued, running, parked, gated, paused metric.Int64ObservableUpDownCounter
}

// observer is the scheduler.Observer that Instrument sets. Its methods only
// add to tallies, record the histograms and end spans: they never block on
// anything but the SDK's own short locks, and never call the scheduler.
type observer struct {
	s      *scheduler.Scheduler
	allow  func(string) bool // nil: no key attributes
	tracer trace.Tracer      // nil: no spans

	in    instruments
	wait  metric.Float64Histogram
	tries metric.Int64Histogram
	reg   metric.Registration

	base    *tally   // jobs counted without rebound.key
	keyed   sync.Map // allowed key → *tally
	stopped atomic.Bool
}

var _ scheduler.Observer = (*observer)(nil)

func newObserver(s *scheduler.Scheduler, cfg config) *observer {
	return &observer{s: s, allow: cfg.allow, base: newTally(attribute.NewSet(), nil)}
}

// tally counts the events of one attribute set: every job, or one allowed
// key's jobs. Its measurement options are made once.
type tally struct {
	submitted, succeeded, attempts, retries, denied, abandoned atomic.Int64
	gaveUp                                                     [len(giveUps)]atomic.Int64
	canceled                                                   [nCancels]atomic.Int64

	key      []attribute.KeyValue // rebound.key for spans; nil for base
	all      metric.MeasurementOption
	gaveUpBy [len(giveUps)]metric.MeasurementOption
	cancelBy [nCancels]metric.MeasurementOption
	waitRec  []metric.RecordOption
	triesRec [nOutcomes][]metric.RecordOption
}

func newTally(set attribute.Set, key []attribute.KeyValue) *tally {
	t := &tally{key: key, all: metric.WithAttributeSet(set)}
	with := func(kv attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(set.ToSlice(), kv)...))
	}
	for i, g := range giveUps {
		t.gaveUpBy[i] = with(attrReason.String(g.name))
	}
	for i, c := range cancels {
		t.cancelBy[i] = with(attrReason.String(c))
	}
	t.waitRec = []metric.RecordOption{t.all}
	for i, name := range outcomes {
		t.triesRec[i] = []metric.RecordOption{with(attrOutcome.String(name))}
	}
	return t
}

// tally returns the tally of a job with key k.
func (o *observer) tally(k string) *tally {
	if k == "" || o.allow == nil || !o.allow(k) {
		return o.base
	}
	if t, ok := o.keyed.Load(k); ok {
		return t.(*tally)
	}
	kv := []attribute.KeyValue{attrKey.String(k)}
	t, _ := o.keyed.LoadOrStore(k, newTally(attribute.NewSet(kv...), kv))
	return t.(*tally)
}

// StartAttempt counts the attempt and, when tracing, starts its span as a
// child of the span in ctx.
func (o *observer) StartAttempt(ctx context.Context, key string, attempt int) context.Context {
	t := o.tally(key)
	t.attempts.Add(1)
	if o.tracer == nil {
		return ctx
	}
	attrs := make([]attribute.KeyValue, 0, 2)
	attrs = append(attrs, attrAttempt.Int(attempt))
	attrs = append(attrs, t.key...)
	ctx, _ = o.tracer.Start(ctx, "rebound.attempt", trace.WithAttributes(attrs...))
	return ctx
}

// Observe counts e. Events after Stopped (a Submit after Shutdown reports
// its job) are ignored: nothing is reported after the stop.
func (o *observer) Observe(ctx context.Context, e scheduler.Event) {
	if o.stopped.Load() {
		return
	}
	switch e.Kind {
	case scheduler.JobSubmitted:
		o.tally(e.Key).submitted.Add(1)
	case scheduler.AttemptEnded:
		t := o.tally(e.Key)
		if e.Retry {
			t.retries.Add(1)
			o.wait.Record(ctx, e.Wait.Seconds(), t.waitRec...)
		}
		if o.tracer != nil {
			endSpan(ctx, e)
		}
	case scheduler.JobEnded:
		t := o.tally(e.Key)
		outcome, why := classify(e.Reason)
		if e.Err == nil {
			outcome = succeeded
		}
		switch outcome {
		case succeeded:
			t.succeeded.Add(1)
		case gaveUp:
			t.gaveUp[why].Add(1)
			if e.Reason == job.ErrBudget {
				t.denied.Add(1)
			}
		case canceled:
			t.canceled[why].Add(1)
		}
		if e.Abandoned {
			t.abandoned.Add(1)
		}
		o.tries.Record(ctx, int64(e.Attempt), t.triesRec[outcome]...)
	case scheduler.Stopped:
		if o.stopped.Swap(true) {
			return
		}
		// Stopped comes without the scheduler's lock: waiting here for a
		// collection that is reading Stats cannot deadlock.
		o.reg.Unregister()
		instrumented.CompareAndDelete(o.s, o)
	}
}

// endSpan ends the attempt's span, which StartAttempt put in ctx.
func endSpan(ctx context.Context, e scheduler.Event) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	var etype string
	if e.Err != nil {
		etype = errorType(e.Err)
		span.SetAttributes(attrErrType.String(etype))
		span.SetStatus(codes.Error, etype)
	}
	switch outcome, why := classify(e.Reason); {
	case e.Retry:
		span.SetAttributes(attrOutcome.String("retry"))
		ev := []attribute.KeyValue{attrWait.Float64(e.Wait.Seconds())}
		if etype != "" {
			ev = append(ev, attrErrType.String(etype))
		}
		span.AddEvent("rebound.retry", trace.WithAttributes(ev...))
	case outcome == succeeded:
		span.SetAttributes(attrOutcome.String(outcomes[succeeded]))
	case outcome == gaveUp:
		span.SetAttributes(attrOutcome.String(outcomes[gaveUp]), attrReason.String(giveUps[why].name))
	default:
		span.SetAttributes(attrOutcome.String(outcomes[canceled]), attrReason.String(cancels[why]))
	}
	span.End()
}

// errorType names err's Go type, past the wrappers that say nothing of the
// failure (fmt.Errorf's %w, job.Permanent, job.RetryAfter, job.Throttled): a
// low-cardinality error.type, where the error's text could hold secrets.
func errorType(err error) string {
	for {
		name := reflect.TypeOf(err).String()
		switch name {
		case "*fmt.wrapError", "*job.permanent", "*job.hinted", "*job.throttled":
			if next := err.(interface{ Unwrap() error }).Unwrap(); next != nil {
				err = next
				continue
			}
		}
		return name
	}
}

// collect reports the tallies and the scheduler's gauges, and nothing once
// the scheduler has stopped.
func (o *observer) collect(_ context.Context, r metric.Observer) error {
	if o.stopped.Load() {
		return nil
	}
	st := o.s.Stats()
	in := &o.in
	r.ObserveInt64(in.queued, int64(st.Queued))
	r.ObserveInt64(in.running, int64(st.Running))
	r.ObserveInt64(in.parked, int64(st.Parked))
	r.ObserveInt64(in.gated, int64(st.Waiting))
	r.ObserveInt64(in.paused, int64(st.PausedKeys))
	o.report(r, o.base)
	o.keyed.Range(func(_, t any) bool {
		o.report(r, t.(*tally))
		return true
	})
	return nil
}

// report observes t's counters.
func (o *observer) report(r metric.Observer, t *tally) {
	in := &o.in
	r.ObserveInt64(in.submitted, t.submitted.Load(), t.all)
	r.ObserveInt64(in.succeeded, t.succeeded.Load(), t.all)
	for i := range t.gaveUp {
		r.ObserveInt64(in.gaveUp, t.gaveUp[i].Load(), t.gaveUpBy[i])
	}
	for i := range t.canceled {
		r.ObserveInt64(in.canceled, t.canceled[i].Load(), t.cancelBy[i])
	}
	r.ObserveInt64(in.attempts, t.attempts.Load(), t.all)
	r.ObserveInt64(in.retries, t.retries.Load(), t.all)
	r.ObserveInt64(in.denied, t.denied.Load(), t.all)
	r.ObserveInt64(in.abandoned, t.abandoned.Load(), t.all)
}
