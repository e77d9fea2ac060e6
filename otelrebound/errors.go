package otelrebound

import "errors"

// ErrInstrumented is returned by Instrument for a scheduler that is
// instrumented already and has not stopped.
var ErrInstrumented = errors.New("otelrebound: scheduler already instrumented")
