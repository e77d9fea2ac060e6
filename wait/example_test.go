package wait_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rebound-go/rebound/wait"
)

func ExampleExponential() {
	s := wait.Exponential(100*time.Millisecond, 2, 30*time.Second)
	var prev time.Duration
	for n := 1; n <= 10; n++ {
		prev, _ = s.Delay(n, prev, nil)
		fmt.Println(n, prev)
	}
	// Output:
	// 1 100ms
	// 2 200ms
	// 3 400ms
	// 4 800ms
	// 5 1.6s
	// 6 3.2s
	// 7 6.4s
	// 8 12.8s
	// 9 25.6s
	// 10 30s
}

func ExampleFibonacci() {
	s := wait.Fibonacci(time.Second, time.Minute)
	for n := 1; n <= 8; n++ {
		d, _ := s.Delay(n, 0, nil)
		fmt.Print(d, " ")
	}
	fmt.Println()
	// Output:
	// 1s 1s 2s 3s 5s 8s 13s 21s
}

func ExampleSchedule() {
	s := wait.Schedule(time.Second, 5*time.Second, 30*time.Second)
	for n := 1; ; n++ {
		d, ok := s.Delay(n, 0, nil)
		if !ok {
			fmt.Printf("retry %d: no more\n", n)
			break
		}
		fmt.Printf("retry %d: wait %v\n", n, d)
	}
	// Output:
	// retry 1: wait 1s
	// retry 2: wait 5s
	// retry 3: wait 30s
	// retry 4: no more
}

func ExampleDecorrelated() {
	s := wait.Decorrelated(100*time.Millisecond, 10*time.Second)
	r := rand.New(rand.NewPCG(1, 2)) // a seeded source: reproducible delays
	var prev time.Duration
	for n := 1; n <= 5; n++ {
		prev, _ = s.Delay(n, prev, r)
		fmt.Println(prev.Round(time.Millisecond))
	}
	// Output:
	// 254ms
	// 508ms
	// 1.217s
	// 2.928s
	// 2.134s
}

func ExampleFunc() {
	// One second per failed attempt so far, at most five retries.
	s := wait.Func(func(n int, _ time.Duration) (time.Duration, bool) {
		return time.Duration(n) * time.Second, n <= 5
	})
	for n := 1; ; n++ {
		d, ok := s.Delay(n, 0, nil)
		if !ok {
			fmt.Printf("retry %d: no more\n", n)
			break
		}
		fmt.Printf("retry %d: wait %v\n", n, d)
	}
	// Output:
	// retry 1: wait 1s
	// retry 2: wait 2s
	// retry 3: wait 3s
	// retry 4: wait 4s
	// retry 5: wait 5s
	// retry 6: no more
}
