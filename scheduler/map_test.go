package scheduler_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"

	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/scheduler"
)

// collect reads every result of ch until it is closed, failing the test if
// an index comes twice or is out of range.
func collect[Out any](t *testing.T, ch <-chan scheduler.Result[Out], n int) []scheduler.Result[Out] {
	t.Helper()
	var rs []scheduler.Result[Out]
	seen := make([]bool, n)
	for {
		r, ok := recvOK(t, ch, "Map result")
		if !ok {
			return rs
		}
		if r.Index < 0 || r.Index >= n || seen[r.Index] {
			t.Fatalf("result with Index %d: out of range or seen before", r.Index)
		}
		seen[r.Index] = true
		rs = append(rs, r)
	}
}

// TestMapCompletionOrder: results arrive as the jobs complete, each with its
// input's index, and exactly once per input.
func TestMapCompletionOrder(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(4))
	defer s.Close()
	slow := make(chan struct{})
	inputs := []int{0, 1, 2, 3, 4}
	ch := scheduler.Map(s, context.Background(), inputs, func(ctx context.Context, in int) (string, error) {
		if in == 0 {
			<-slow
		}
		return strconv.Itoa(in * in), nil
	})
	var order []int
	for range 4 {
		r, ok := recvOK(t, ch, "Map result")
		if !ok {
			t.Fatal("channel closed early")
		}
		order = append(order, r.Index)
	}
	for _, i := range order {
		if i == 0 {
			t.Fatalf("input 0 (still blocked) delivered among the first 4: %v", order)
		}
	}
	close(slow)
	rest := collect(t, ch, len(inputs))
	if len(rest) != 1 || rest[0].Index != 0 {
		t.Fatalf("after releasing input 0: %v, want input 0's result only, then the channel closed", rest)
	}
	if rest[0].Value != "0" || rest[0].Err != nil {
		t.Errorf("input 0: %q, %v; want \"0\", nil", rest[0].Value, rest[0].Err)
	}
}

// TestMapValues: every result carries its own input's value or error.
func TestMapValues(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(8))
	defer s.Close()
	inputs := make([]int, 100)
	for i := range inputs {
		inputs[i] = i
	}
	ch := scheduler.Map(s, context.Background(), inputs, func(ctx context.Context, in int) (int, error) {
		if in%2 == 1 {
			return 0, job.Permanent(errBoom)
		}
		return in * 10, nil
	})
	rs := collect(t, ch, len(inputs))
	if len(rs) != len(inputs) {
		t.Fatalf("%d results, want %d", len(rs), len(inputs))
	}
	for _, r := range rs {
		if r.Index%2 == 1 {
			if !errors.Is(r.Err, errBoom) || !errors.Is(r.Err, job.ErrPermanent) || r.Value != 0 {
				t.Errorf("result %d = %d, %v; want 0 and a permanent %v", r.Index, r.Value, r.Err, errBoom)
			}
		} else if r.Value != r.Index*10 || r.Err != nil {
			t.Errorf("result %d = %d, %v; want %d, nil", r.Index, r.Value, r.Err, r.Index*10)
		}
	}
}

// TestMapAll: MapAll returns the results in input order.
func TestMapAll(t *testing.T) {
	s := scheduler.New(scheduler.WithWorkers(8))
	defer s.Close()
	inputs := []string{"a", "bb", "ccc", "dddd", ""}
	rs := scheduler.MapAll(s, context.Background(), inputs, func(ctx context.Context, in string) (int, error) {
		if in == "" {
			return 0, job.Permanent(errBoom)
		}
		return len(in), nil
	})
	if len(rs) != len(inputs) {
		t.Fatalf("len(MapAll()) = %d, want %d", len(rs), len(inputs))
	}
	for i, r := range rs {
		if r.Index != i {
			t.Errorf("rs[%d].Index = %d, want %d", i, r.Index, i)
		}
		if i == len(inputs)-1 {
			if !errors.Is(r.Err, errBoom) {
				t.Errorf("rs[%d].Err = %v, want %v", i, r.Err, errBoom)
			}
		} else if r.Value != len(inputs[i]) || r.Err != nil {
			t.Errorf("rs[%d] = %d, %v; want %d, nil", i, r.Value, r.Err, len(inputs[i]))
		}
	}
}

// TestMapEmpty: no input, a channel already closed.
func TestMapEmpty(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	ch := scheduler.Map(s, context.Background(), nil, func(context.Context, int) (int, error) { return 0, nil })
	select {
	case r, ok := <-ch:
		if ok {
			t.Errorf("got result %+v, want a closed channel", r)
		}
	default:
		t.Error("channel not closed at once")
	}
	if rs := scheduler.MapAll(s, context.Background(), []int{}, func(context.Context, int) (int, error) { return 0, nil }); len(rs) != 0 {
		t.Errorf("MapAll(empty) = %v, want empty", rs)
	}
}

// TestMapReaderStopsEarly: a reader may stop after one result; Close then
// ends the other jobs and nothing leaks: synctest.Test returns only once
// every goroutine of its bubble (Map's feeder included) has exited, and
// goleak checks the rest in TestMain.
func TestMapReaderStopsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithQueueSize(4))
		inputs := make([]int, 50) // more than the queue holds: Map's feeder blocks
		for i := range inputs {
			inputs[i] = i
		}
		ch := scheduler.Map(s, context.Background(), inputs, func(ctx context.Context, in int) (int, error) {
			if in == 0 {
				return 0, nil
			}
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if r := <-ch; r.Index != 0 || r.Err != nil {
			t.Errorf("first result = %+v, want input 0's success", r)
		}
		s.Close()
		if st := checkEnded(t, s); st.Succeeded != 1 {
			t.Errorf("Stats().Succeeded = %d, want 1", st.Succeeded)
		}
	})
}

// TestMapCancel: canceling Map's ctx cancels the jobs not ended yet; their
// results still arrive, with context.Canceled.
func TestMapCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(scheduler.WithWorkers(2), scheduler.WithQueueSize(4))
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		inputs := make([]int, 20)
		for i := range inputs {
			inputs[i] = i
		}
		ch := scheduler.Map(s, ctx, inputs, func(ctx context.Context, in int) (int, error) {
			if in < 2 {
				return in, nil
			}
			<-ctx.Done()
			return 0, errBoom
		})
		synctest.Wait()
		cancel()
		rs := collect(t, ch, len(inputs))
		if len(rs) != len(inputs) {
			t.Fatalf("%d results, want %d", len(rs), len(inputs))
		}
		for _, r := range rs {
			if r.Index < 2 {
				if r.Err != nil || r.Value != r.Index {
					t.Errorf("result %d = %d, %v; want %d, nil", r.Index, r.Value, r.Err, r.Index)
				}
				continue
			}
			if je := jobError(t, r.Err); je.Reason != context.Canceled {
				t.Errorf("result %d: Err = %v, want Reason context.Canceled", r.Index, r.Err)
			}
		}
		s.Close()
		if st := checkEnded(t, s); st.Submitted != uint64(len(inputs)) || st.Succeeded != 2 || st.Canceled != uint64(len(inputs)-2) {
			t.Errorf("Stats() Submitted %d, Succeeded %d, Canceled %d; want %d, 2, %d",
				st.Submitted, st.Succeeded, st.Canceled, len(inputs), len(inputs)-2)
		}
	})
}

// TestMapPanicsOnNil: Map panics on a nil scheduler, context or function.
func TestMapPanicsOnNil(t *testing.T) {
	s := scheduler.New()
	defer s.Close()
	fn := func(context.Context, int) (int, error) { return 0, nil }
	mustPanic(t, "scheduler: ", func() { scheduler.Map(nil, context.Background(), []int{1}, fn) })
	mustPanic(t, "scheduler: ", func() { scheduler.Map(s, nil, []int{1}, fn) })
	mustPanic(t, "scheduler: ", func() { scheduler.Map[int, int](s, context.Background(), []int{1}, nil) })
}
