package jitter_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/jitter"
)

func Example() {
	// A seeded source makes the jittered delays reproducible.
	r := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		fmt.Println(jitter.Full.Apply(time.Second, r).Round(time.Millisecond))
	}
	// Output:
	// 769ms
	// 616ms
	// 784ms
}

func ExampleProportional() {
	j := jitter.Proportional(0.2) // within 20% of the base delay either way
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Println(j.Apply(10*time.Second, r).Round(time.Millisecond))
	// Output:
	// 11.077s
}

func ExampleFunc() {
	// Round the delay down to whole seconds, then jitter it fully.
	j := jitter.Func(func(d time.Duration, r *rand.Rand) time.Duration {
		return jitter.Full.Apply(d.Truncate(time.Second), r)
	})
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Println(j.Apply(2500*time.Millisecond, r).Round(time.Millisecond))
	// Output:
	// 1.539s
}
