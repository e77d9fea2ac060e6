package main

import (
	"testing"
	"time"
)

// BenchmarkSmoke runs every mode small and in-process, so that CI's
// benchmark step (-benchtime=1x) keeps the program working. The real
// measurement is the program itself: see run.sh.
func BenchmarkSmoke(b *testing.B) {
	for b.Loop() {
		for _, m := range modes {
			r, err := measure(m, 2000, time.Second)
			if err != nil {
				b.Fatalf("%s: %v", m, err)
			}
			b.ReportMetric(r.perJob(), m+"-B/job")
		}
	}
}
