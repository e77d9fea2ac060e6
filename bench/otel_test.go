package bench

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/otelrebound"
	"github.com/rebound-go/rebound/scheduler"
)

// The cost of instrumenting: scenario 3's fan-out (fanJobs trivial jobs
// through fanWorkers workers) on a bare scheduler, beside the same with
// otelrebound's metrics (the SDK with a ManualReader that never collects:
// the per-job cost only), and with metrics and a span per attempt (always
// sampled, ended into an exporter that drops it). ns/job is the figure to
// compare.
func BenchmarkOTel(b *testing.B) {
	ctx := context.Background()
	policy := job.NewPolicy()
	run := func(b *testing.B, opts ...otelrebound.Option) {
		s := scheduler.New(scheduler.WithWorkers(fanWorkers), scheduler.WithQueueSize(fanJobs))
		b.Cleanup(func() { s.Shutdown(ctx) })
		if opts != nil {
			if err := otelrebound.Instrument(s, opts...); err != nil {
				b.Fatal(err)
			}
		}
		futures := make([]*job.Future[int], fanJobs)
		fanOut(b, func(results []int) {
			for i := range futures {
				futures[i] = scheduler.Submit(s, ctx, func(context.Context) (int, error) { return work(i), nil }, policy)
			}
			for i, f := range futures {
				v, err := f.Wait(ctx)
				if err != nil {
					b.Fatal(err)
				}
				results[i] = v
			}
		})
	}
	meters := func() otelrebound.Option {
		return otelrebound.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	}

	b.Run("bare", func(b *testing.B) { run(b) })
	b.Run("metrics", func(b *testing.B) { run(b, meters()) })
	b.Run("metrics+traces", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		run(b, meters(), otelrebound.WithTracerProvider(tp))
	})
}
