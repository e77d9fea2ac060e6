package main

import (
	"testing"
	"time"
)

// BenchmarkSmoke runs both implementations small, so that CI's benchmark
// step (-benchtime=1x) keeps the program working. The real measurement is
// the program itself: see run.sh.
func BenchmarkSmoke(b *testing.B) {
	delays := []time.Duration{time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	for b.Loop() {
		for name, f := range map[string]func() ([]time.Duration, error){
			"rebound":   func() ([]time.Duration, error) { return rebound(delays, time.Time{}, 4) },
			"afterfunc": func() ([]time.Duration, error) { return afterFunc(delays, time.Time{}) },
			"rebound-burst": func() ([]time.Duration, error) {
				return rebound(make([]time.Duration, 100), time.Now().Add(5*time.Millisecond), 4)
			},
			"afterfunc-burst": func() ([]time.Duration, error) {
				return afterFunc(make([]time.Duration, 100), time.Now().Add(5*time.Millisecond))
			},
		} {
			late, err := f()
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			if s := summarize(late); s.p50 < 0 {
				b.Fatalf("%s: a retry started before it was due: %+v", name, s)
			}
		}
	}
}
