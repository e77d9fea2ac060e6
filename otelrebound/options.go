package otelrebound

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures Instrument. Options are values, safe to reuse; a later
// option wins over an earlier one that sets the same thing.
type Option interface {
	apply(*config)
}

// config is what the options set; newConfig sets every default.
type config struct {
	meters  metric.MeterProvider
	tracers trace.TracerProvider  // nil: no spans
	allow   func(key string) bool // nil: no key attributes
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if c.meters == nil {
		c.meters = otel.GetMeterProvider()
	}
	return c
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets the provider of the meter that the metrics are
// recorded with. The default, and nil, is the global one
// (otel.GetMeterProvider) as it is when Instrument is called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meters = mp })
}

// WithTracerProvider turns tracing on: each attempt is a span of a tracer
// from tp. Without it, or with nil, there are no spans; the global provider
// is not used unless passed (otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracers = tp })
}

// WithKeys allows keys as values of the attribute rebound.key: the jobs of
// these keys are counted per key, and their spans carry it. Jobs of other
// keys are counted without the attribute. It replaces WithKeyFilter and
// earlier WithKeys options.
func WithKeys(keys ...string) Option {
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return WithKeyFilter(func(k string) bool {
		_, ok := set[k]
		return ok
	})
}

// WithKeyFilter is WithKeys with a function: the keys for which allow
// returns true become attribute values. allow is called for every event of
// a keyed job, from many goroutines at once, sometimes with the scheduler's
// lock held: it must be fast, safe for concurrent use, and must not call the
// scheduler. Each key it allows is one more series per instrument, kept
// until the scheduler stops: allow a bounded set. nil allows none. It
// replaces WithKeys and earlier WithKeyFilter options.
func WithKeyFilter(allow func(key string) bool) Option {
	return optionFunc(func(c *config) { c.allow = allow })
}
