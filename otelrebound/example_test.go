package otelrebound_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/otelrebound"
	"github.com/rebound-go/rebound/scheduler"
	"github.com/rebound-go/rebound/wait"
)

// A flaky workload, its metrics served as Prometheus text at /metrics
// through OpenTelemetry's Prometheus exporter. A program would serve mux
// with http.ListenAndServe; here one request goes through it.
func Example_prometheus() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		panic(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(ctx)

	s := scheduler.New(scheduler.WithWorkers(4))
	if err := otelrebound.Instrument(s, otelrebound.WithMeterProvider(mp)); err != nil {
		panic(err)
	}
	defer s.Shutdown(ctx)

	// Job i fails its first i%3 attempts, and has two.
	pol := job.NewPolicy(job.MaxAttempts(2), job.Wait(wait.Constant(time.Millisecond)), job.Jitter(jitter.None))
	var futures []*job.Future[struct{}]
	for i := range 10 {
		calls := 0
		futures = append(futures, s.Go(ctx, func(context.Context) error {
			if calls++; calls <= i%3 {
				return errors.New("503 Service Unavailable")
			}
			return nil
		}, pol))
	}
	for _, f := range futures {
		f.Wait(ctx)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	for sc := bufio.NewScanner(rec.Body); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "rebound_jobs_") || strings.HasPrefix(line, "rebound_retries_total") ||
			strings.HasPrefix(line, "rebound_attempts_total") || strings.HasPrefix(line, "rebound_job_attempts_count") {
			fmt.Println(line)
		}
	}
	// Output:
	// rebound_attempts_total 16
	// rebound_job_attempts_count{rebound_outcome="gave_up"} 3
	// rebound_job_attempts_count{rebound_outcome="succeeded"} 7
	// rebound_jobs_canceled_total{rebound_reason="closed"} 0
	// rebound_jobs_canceled_total{rebound_reason="context"} 0
	// rebound_jobs_gated 0
	// rebound_jobs_gave_up_total{rebound_reason="budget"} 0
	// rebound_jobs_gave_up_total{rebound_reason="deadline"} 0
	// rebound_jobs_gave_up_total{rebound_reason="exhausted"} 3
	// rebound_jobs_gave_up_total{rebound_reason="permanent"} 0
	// rebound_jobs_parked 0
	// rebound_jobs_queued 0
	// rebound_jobs_running 0
	// rebound_jobs_submitted_total 10
	// rebound_jobs_succeeded_total 7
	// rebound_retries_total 6
}
