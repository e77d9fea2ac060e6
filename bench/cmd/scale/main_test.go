package main

import "testing"

// BenchmarkSmoke runs every measurement small, so that CI's benchmark step
// (-benchtime=1x) keeps the program working. The real measurement is the
// program itself: see run.sh.
func BenchmarkSmoke(b *testing.B) {
	for b.Loop() {
		for name, f := range map[string]func(int) (figures, error){"ctx": reboundCtx, "future": reboundFuture, "afterfunc": afterFunc} {
			if _, err := f(5000); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
		}
	}
}
