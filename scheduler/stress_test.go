package scheduler_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// heapInuse returns the bytes of heap in use after a full collection.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// perJob returns (after-before)/n, 0 when the heap shrank.
func perJob(before, after uint64, n int) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / float64(n)
}

// TestStressParkedCancel parks many jobs (one shared Policy, one shared
// cancellable ctx) for an hour, measures what a parked job costs, then
// cancels the ctx: every future resolves with context.Canceled at once and
// the heap is empty.
func TestStressParkedCancel(t *testing.T) {
	n := scale(1_000_000, 20_000)
	futures := make([]*job.Future[struct{}], n)
	before := heapInuse()

	s := scheduler.New(scheduler.WithQueueSize(n))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pol := constant(time.Hour)
	op := func(context.Context) error { return errBoom }
	start := time.Now()
	for i := range futures {
		futures[i] = s.Go(ctx, op, pol)
	}
	settleWithin(t, s, 5*time.Minute)
	parkedIn := time.Since(start)
	if st := s.Stats(); st.Parked != n || st.Submitted != uint64(n) || st.Retried != uint64(n) {
		t.Fatalf("Stats() Parked %d, Submitted %d, Retried %d; want %d each", st.Parked, st.Submitted, st.Retried, n)
	}
	after := heapInuse()
	b := perJob(before, after, n)
	t.Logf("%d jobs parked in %v: %.0f B per parked job (HeapInuse %d -> %d)", n, parkedIn, b, before, after)
	if b > 1500 {
		t.Errorf("a parked job costs %.0f B, want < 1500", b)
	}

	start = time.Now()
	cancel()
	deadline := time.NewTimer(5 * time.Minute)
	defer deadline.Stop()
	for i, f := range futures {
		select {
		case <-f.Done():
		case <-deadline.C:
			t.Fatalf("future %d not resolved 5 min after the cancel (Stats() %+v)", i, s.Stats())
		}
		_, err := f.Wait(context.Background())
		if je := jobError(t, err); je.Reason != context.Canceled || !errors.Is(err, errBoom) || je.Attempts != 1 {
			t.Fatalf("future %d: err = %v, want Reason context.Canceled, Last %v, 1 attempt", i, err, errBoom)
		}
	}
	t.Logf("%d parked jobs canceled and resolved in %v", n, time.Since(start))
	st := s.Stats()
	if st.Parked != 0 || st.Canceled != uint64(n) {
		t.Errorf("Stats() Parked %d, Canceled %d; want 0, %d", st.Parked, st.Canceled, n)
	}
	settleWithin(t, s, time.Minute) // nothing left for the heap's timer
	s.Close()
	checkEnded(t, s)
}

// TestStressDistinctKeys runs many jobs, each of its own key: once they have
// ended, the scheduler keeps state for none of the keys.
func TestStressDistinctKeys(t *testing.T) {
	n := scale(1_000_000, 20_000)
	before := heapInuse()
	s := scheduler.New(scheduler.WithKeyLimit(2))
	defer s.Close()
	pol := constant(0)
	op := func(context.Context) error { return nil }
	start := time.Now()
	for i := range n { // Submit blocks at the default WithQueueSize: memory stays bounded
		s.Go(context.Background(), op, pol, job.Key(strconv.Itoa(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v (Stats() %+v)", err, s.Stats())
	}
	t.Logf("%d keyed jobs run in %v", n, time.Since(start))
	st := checkEnded(t, s)
	if st.Succeeded != uint64(n) || st.Keys != 0 {
		t.Errorf("Stats() Succeeded %d, Keys %d; want %d, 0", st.Succeeded, st.Keys, n)
	}
	for i := range n {
		if ks, ok := s.KeyStats(strconv.Itoa(i)); ok {
			t.Fatalf("Key(%d) = %+v, true after its job ended; want dropped", i, ks)
		}
	}
	after := heapInuse()
	t.Logf("heap retained after %d distinct keys: %d B (HeapInuse %d -> %d)", n, int64(after)-int64(before), before, after)
	runtime.KeepAlive(s)
}
