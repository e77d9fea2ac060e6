package otelrebound_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// meter is a MeterProvider with a ManualReader.
type meter struct {
	*sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
}

func newMeter() meter {
	r := sdkmetric.NewManualReader()
	return meter{sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), r}
}

// collect returns what the reader collects now, by instrument name.
func (m meter) collect(t *testing.T) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	s := snapshot{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			s[mt.Name] = mt
		}
	}
	return s
}

// snapshot is one collection.
type snapshot map[string]metricdata.Metrics

// attrs formats an attribute set as {k=v,...}, sorted.
func attrs(set attribute.Set) string {
	var kv []string
	for _, a := range set.ToSlice() {
		kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
	}
	slices.Sort(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// points returns the int64 points of a sum (counter or up-down counter), by
// attributes; nil when the instrument reported nothing.
func (s snapshot) points(t *testing.T, name string) map[string]int64 {
	t.Helper()
	m, ok := s[name]
	if !ok {
		return nil
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data is %T, want metricdata.Sum[int64]", name, m.Data)
	}
	if len(sum.DataPoints) == 0 {
		return nil
	}
	p := map[string]int64{}
	for _, dp := range sum.DataPoints {
		p[attrs(dp.Attributes)] = dp.Value
	}
	return p
}

// value returns the point of a sum with exactly the attributes kv.
func (s snapshot) value(t *testing.T, name string, kv ...attribute.KeyValue) int64 {
	t.Helper()
	want := attrs(attribute.NewSet(kv...))
	v, ok := s.points(t, name)[want]
	if !ok {
		t.Fatalf("%s%s: no point; points %v", name, want, s.points(t, name))
	}
	return v
}

// hist is one histogram point.
type hist struct {
	count uint64
	sum   float64
}

// histograms returns the points of a histogram, by attributes.
func (s snapshot) histograms(t *testing.T, name string) map[string]hist {
	t.Helper()
	m, ok := s[name]
	if !ok {
		return nil
	}
	p := map[string]hist{}
	switch h := m.Data.(type) {
	case metricdata.Histogram[int64]:
		for _, dp := range h.DataPoints {
			p[attrs(dp.Attributes)] = hist{dp.Count, float64(dp.Sum)}
		}
	case metricdata.Histogram[float64]:
		for _, dp := range h.DataPoints {
			p[attrs(dp.Attributes)] = hist{dp.Count, dp.Sum}
		}
	default:
		t.Fatalf("%s: data is %T, want a histogram", name, m.Data)
	}
	return p
}

// The observable instruments: nothing of them is exported once the
// scheduler has stopped.
var (
	counters = []string{
		"rebound.jobs.submitted", "rebound.jobs.succeeded", "rebound.jobs.gave_up", "rebound.jobs.canceled",
		"rebound.attempts", "rebound.retries", "rebound.retries.denied", "rebound.attempts.abandoned",
	}
	gauges = []string{
		"rebound.jobs.queued", "rebound.jobs.running", "rebound.jobs.parked", "rebound.jobs.gated", "rebound.keys.paused",
	}
)

// errBoom is the attempts' error.
var errBoom = errors.New("boom")

// failing returns an operation that fails its first n attempts with err,
// then succeeds.
func failing(n int, err error) func(context.Context) error {
	calls := 0
	return func(context.Context) error {
		if calls++; calls <= n {
			return err
		}
		return nil
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
