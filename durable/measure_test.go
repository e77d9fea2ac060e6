package durable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/rebound-go/rebound/durable"
	"github.com/rebound-go/rebound/jitter"
	"github.com/rebound-go/rebound/job"
	"github.com/rebound-go/rebound/wait"
)

// TestMeasureRetriedOnce measures the end-to-end latency (Enqueue to
// Future.Wait returning) of a task that fails once and succeeds after a 1s
// wait: in memory, through asynq's retry set, and plain asynq with a 1s
// RetryDelayFunc for comparison; with asynq's defaults (a worker with an
// idle queue looks for tasks every 1s, due retries move every 5s) and with
// quicker settings.
// It is a measurement, not a check: it runs only with REBOUND_MEASURE=1.
//
//	REBOUND_MEASURE=1 go test -run TestMeasureRetriedOnce -v ./durable/
func TestMeasureRetriedOnce(t *testing.T) {
	if os.Getenv("REBOUND_MEASURE") == "" {
		t.Skip("a measurement: set REBOUND_MEASURE=1")
	}
	const runs = 7
	type setup struct {
		name      string
		below     time.Duration
		forwarder time.Duration // asynq's DelayedTaskCheckInterval; 0: its default, 5s
		pickup    time.Duration // asynq's TaskCheckInterval (idle queue polling); 0: its default, 1s
		plain     bool
	}
	for _, s := range []setup{
		{name: "durable, in memory (default), asynq defaults", below: durable.DefaultInMemoryBelow},
		{name: "durable, in memory (default), pickup 50ms", below: durable.DefaultInMemoryBelow, pickup: 50 * time.Millisecond},
		{name: "durable, retry set, asynq defaults", below: 0},
		{name: "durable, retry set, forwarder 1s, pickup 50ms", below: 0, forwarder: time.Second, pickup: 50 * time.Millisecond},
		{name: "plain asynq (RetryDelayFunc 1s), asynq defaults", plain: true},
		{name: "plain asynq (RetryDelayFunc 1s), forwarder 1s, pickup 50ms", plain: true, forwarder: time.Second, pickup: 50 * time.Millisecond},
	} {
		q := queueName(t)
		cfg := asynq.Config{Concurrency: 4, Queues: map[string]int{q: 1}, DelayedTaskCheckInterval: s.forwarder, TaskCheckInterval: s.pickup, LogLevel: asynq.FatalLevel}
		var lat []time.Duration
		if s.plain {
			lat = measurePlain(t, cfg, q, runs)
		} else {
			kind := durable.NewKind[int, int]("measure:once", job.Wait(wait.Constant(time.Second)), job.Jitter(jitter.None))
			var calls atomic.Int64
			w := durable.NewWorker(redisOpt(t), cfg, durable.InMemoryBelow(s.below))
			durable.Handle(w, kind, func(ctx context.Context, v int) (int, error) {
				if job.AttemptFrom(ctx) == 1 {
					return 0, errors.New("first attempt fails")
				}
				calls.Add(1)
				return v, nil
			})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Shutdown)
			c := durable.NewClient(redisOpt(t), durable.PollEvery(10*time.Millisecond))
			t.Cleanup(func() { c.Close() })
			for i := range runs {
				start := time.Now()
				f, err := durable.Enqueue(context.Background(), c, kind, i, asynq.Queue(q))
				if err != nil {
					t.Fatal(err)
				}
				if v, err := f.Wait(waitCtx(t, time.Minute)); err != nil || v != i {
					t.Fatalf("Wait = %d, %v", v, err)
				}
				lat = append(lat, time.Since(start))
			}
			c.Close()
			w.Shutdown()
		}
		slices.Sort(lat)
		t.Logf("%-62s median %6v  min %6v  max %6v  (%d runs)", s.name,
			lat[len(lat)/2].Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat))
	}
}

// measurePlain is the same task on asynq alone: fail once, retry after 1s.
func measurePlain(t *testing.T, cfg asynq.Config, q string, runs int) []time.Duration {
	cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return time.Second }
	done := make(chan struct{}, 1)
	mux := asynq.NewServeMux()
	mux.HandleFunc("measure:plain", func(ctx context.Context, _ *asynq.Task) error {
		if n, _ := asynq.GetRetryCount(ctx); n == 0 {
			return errors.New("first attempt fails")
		}
		done <- struct{}{}
		return nil
	})
	srv := asynq.NewServer(redisOpt(t), cfg)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	c := asynq.NewClient(redisOpt(t))
	defer c.Close()
	var lat []time.Duration
	for i := range runs {
		start := time.Now()
		if _, err := c.Enqueue(asynq.NewTask("measure:plain", []byte(fmt.Sprint(i))), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done: // the handler's own signal: no polling in this figure
		case <-time.After(time.Minute):
			t.Fatal("plain asynq task did not complete")
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

// TestMeasureThroughput measures how fast one worker (Concurrency 8) runs
// 2,000 trivial tasks already in the queue: durable (a record read, a
// record write before the attempt and one after, beside asynq's own calls)
// against plain asynq. REBOUND_MEASURE=1 only.
func TestMeasureThroughput(t *testing.T) {
	if os.Getenv("REBOUND_MEASURE") == "" {
		t.Skip("a measurement: set REBOUND_MEASURE=1")
	}
	const n, runs = 2000, 3
	for _, plain := range []bool{true, false} {
		var rates []float64
		for range runs {
			q := queueName(t)
			cfg := asynq.Config{Concurrency: 8, Queues: map[string]int{q: 1}, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel}
			kind := durable.NewKind[int, int]("measure:tput")
			c := asynq.NewClient(redisOpt(t))
			dc := durable.NewClient(redisOpt(t))
			for i := range n {
				var err error
				if plain {
					_, err = c.Enqueue(asynq.NewTask("measure:plain", nil), asynq.Queue(q), asynq.Retention(time.Hour))
				} else {
					_, err = durable.Enqueue(context.Background(), dc, kind, i, asynq.Queue(q))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			dc.Close()
			var stop func()
			start := time.Now()
			if plain {
				mux := asynq.NewServeMux()
				mux.HandleFunc("measure:plain", func(context.Context, *asynq.Task) error { return nil })
				srv := asynq.NewServer(redisOpt(t), cfg)
				if err := srv.Start(mux); err != nil {
					t.Fatal(err)
				}
				stop = srv.Shutdown
			} else {
				w := durable.NewWorker(redisOpt(t), cfg)
				durable.Handle(w, kind, func(_ context.Context, v int) (int, error) { return v, nil })
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				stop = w.Shutdown
			}
			in := newInspector(t)
			tick := time.NewTicker(5 * time.Millisecond)
			for {
				qi, err := in.GetQueueInfo(q)
				if err == nil && qi.Completed == n {
					break
				}
				<-tick.C
			}
			elapsed := time.Since(start)
			tick.Stop()
			stop()
			in.DeleteQueue(q, true)
			rates = append(rates, float64(n)/elapsed.Seconds())
		}
		slices.Sort(rates)
		name := "durable"
		if plain {
			name = "plain asynq"
		}
		t.Logf("%-12s %5.0f tasks/s median of %d runs (min %.0f, max %.0f)", name, rates[len(rates)/2], runs, rates[0], rates[len(rates)-1])
	}
}
