package otelrebound_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/otelrebound"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// statusError is an attempt's error; its text holds a secret that no span
// may show.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("status %d for ?token=hunter2", e.code) }

// tracer is a TracerProvider that keeps every span in memory.
func tracer() (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), exp
}

// named returns the spans named name, in the order they ended.
func named(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// attr returns the value of attribute k, and whether there is one.
func attr(kvs []attribute.KeyValue, k string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// A job submitted inside a traced request shows each attempt as a child
// span of the request, with its number, key and outcome, each retry's wait
// as an event, and the operation's own spans under the attempt's.
func TestAttemptSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tp, exp := tracer()
		s := scheduler.New()
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(newMeter()),
			otelrebound.WithTracerProvider(tp), otelrebound.WithKeys("api")))

		ctx, req := tp.Tracer("test").Start(context.Background(), "request")
		calls := 0
		op := func(ctx context.Context) error {
			_, span := tp.Tracer("test").Start(ctx, "op")
			defer span.End()
			if calls++; calls <= 2 {
				return job.RetryAfter(fmt.Errorf("GET /x: %w", &statusError{503}), 0)
			}
			return nil
		}
		pol := job.NewPolicy(job.MaxAttempts(5), job.Wait(wait.Constant(2*time.Second)), job.Jitter(jitter.None))
		if _, err := s.Go(ctx, op, pol, job.Key("api")).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		req.End()
		must(t, s.Shutdown(ctx))

		spans := exp.GetSpans()
		attempts := named(spans, "rebound.attempt")
		ops := named(spans, "op")
		if len(attempts) != 3 || len(ops) != 3 {
			t.Fatalf("%d attempt spans and %d op spans, want 3 and 3", len(attempts), len(ops))
		}
		for i, sp := range attempts {
			n := i + 1
			if sp.Parent.SpanID() != req.SpanContext().SpanID() || sp.SpanContext.TraceID() != req.SpanContext().TraceID() {
				t.Errorf("attempt %d: parent %v in trace %v, want the request's span %v", n, sp.Parent.SpanID(), sp.SpanContext.TraceID(), req.SpanContext().SpanID())
			}
			if ops[i].Parent.SpanID() != sp.SpanContext.SpanID() {
				t.Errorf("op of attempt %d: parent %v, want the attempt's span %v", n, ops[i].Parent.SpanID(), sp.SpanContext.SpanID())
			}
			if v, _ := attr(sp.Attributes, "rebound.attempt"); v.AsInt64() != int64(n) {
				t.Errorf("attempt %d: rebound.attempt = %v", n, v.String())
			}
			if v, _ := attr(sp.Attributes, "rebound.key"); v.AsString() != "api" {
				t.Errorf("attempt %d: rebound.key = %q, want api", n, v.String())
			}
			wantOutcome, wantStatus, wantType, wantEvents := "retry", codes.Error, "*otelrebound_test.statusError", 1
			if n == 3 {
				wantOutcome, wantStatus, wantType, wantEvents = "succeeded", codes.Unset, "", 0
			}
			if v, _ := attr(sp.Attributes, "rebound.outcome"); v.AsString() != wantOutcome {
				t.Errorf("attempt %d: rebound.outcome = %q, want %q", n, v.String(), wantOutcome)
			}
			if sp.Status.Code != wantStatus {
				t.Errorf("attempt %d: status %v, want %v", n, sp.Status.Code, wantStatus)
			}
			if v, _ := attr(sp.Attributes, "error.type"); v.AsString() != wantType {
				t.Errorf("attempt %d: error.type = %q, want %q", n, v.String(), wantType)
			}
			if len(sp.Events) != wantEvents {
				t.Fatalf("attempt %d: %d events, want %d", n, len(sp.Events), wantEvents)
			}
			for _, ev := range sp.Events {
				w, _ := attr(ev.Attributes, "rebound.retry.wait")
				et, _ := attr(ev.Attributes, "error.type")
				if ev.Name != "rebound.retry" || w.AsFloat64() != 2 || et.AsString() != wantType {
					t.Errorf("attempt %d: event %s wait=%v error.type=%v, want rebound.retry wait=2 error.type=%s", n, ev.Name, w.String(), et.String(), wantType)
				}
			}
			if dump := fmt.Sprintf("%+v", sp); strings.Contains(dump, "hunter2") {
				t.Errorf("attempt %d: the error's text is in the span: %s", n, dump)
			}
		}
	})
}

// A job's last attempt says why the job ended; a key not allowed is not an
// attribute; a job with no span in its context starts a trace.
func TestAttemptSpanEnds(t *testing.T) {
	cases := []struct {
		name    string
		op      func(context.Context) error
		cancel  bool // cancel the job's future during its attempt
		outcome string
		reason  string
	}{
		{"permanent", failing(1, job.Permanent(errBoom)), false, "gave_up", "permanent"},
		{"exhausted", failing(1, errBoom), false, "gave_up", "exhausted"},
		{"canceled", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true, "canceled", "context"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				tp, exp := tracer()
				s := scheduler.New()
				must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(newMeter()),
					otelrebound.WithTracerProvider(tp), otelrebound.WithKeys("api")))
				f := s.Go(ctx, c.op, job.MaxAttempts(1), job.Key("other"))
				if c.cancel {
					synctest.Wait()
					f.Cancel()
				}
				<-f.Done()
				must(t, s.Shutdown(ctx))

				spans := named(exp.GetSpans(), "rebound.attempt")
				if len(spans) != 1 {
					t.Fatalf("%d attempt spans, want 1", len(spans))
				}
				sp := spans[0]
				if sp.Parent.IsValid() {
					t.Errorf("parent %v, want none", sp.Parent.SpanID())
				}
				if v, ok := attr(sp.Attributes, "rebound.key"); ok {
					t.Errorf("rebound.key = %q for a key not allowed", v.String())
				}
				got := []string{}
				for _, k := range []string{"rebound.outcome", "rebound.reason"} {
					v, _ := attr(sp.Attributes, k)
					got = append(got, v.AsString())
				}
				if want := []string{c.outcome, c.reason}; !slices.Equal(got, want) {
					t.Errorf("rebound.outcome, rebound.reason = %q, want %q", got, want)
				}
				if len(sp.Events) != 0 {
					t.Errorf("%d events, want none: no retry", len(sp.Events))
				}
			})
		})
	}
}

// Without WithTracerProvider no span is made: the operation sees the span
// of the job's context.
func TestNoTracerProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tp, exp := tracer()
		s := scheduler.New()
		must(t, otelrebound.Instrument(s, otelrebound.WithMeterProvider(newMeter())))
		ctx, req := tp.Tracer("test").Start(context.Background(), "request")
		var seen trace.SpanContext
		<-s.Go(ctx, func(ctx context.Context) error {
			seen = trace.SpanContextFromContext(ctx)
			return nil
		}).Done()
		req.End()
		must(t, s.Shutdown(ctx))
		if !seen.Equal(req.SpanContext()) {
			t.Errorf("the operation saw span %v, want the request's %v", seen.SpanID(), req.SpanContext().SpanID())
		}
		if n := len(exp.GetSpans()); n != 1 {
			t.Errorf("%d spans, want only the request's", n)
		}
	})
}
