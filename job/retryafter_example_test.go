package job_test

import (
	"fmt"
	"time"

	"github.com/rebound-go/rebound/job"
)

func ExampleParseRetryAfter() {
	// A fixed now keeps the example deterministic; real callers pass
	// time.Now() or their clock's Now.
	now := time.Date(2025, time.January, 2, 3, 4, 5, 0, time.UTC)
	for _, v := range []string{
		"120",
		"Thu, 02 Jan 2025 03:05:35 GMT", // 90s after now
		"Wed, 01 Jan 2025 00:00:00 GMT", // already past
		"1.5",
	} {
		d, ok := job.ParseRetryAfter(v, now)
		fmt.Printf("%-31q -> %v, %v\n", v, d, ok)
	}
	// Output:
	// "120"                           -> 2m0s, true
	// "Thu, 02 Jan 2025 03:05:35 GMT" -> 1m30s, true
	// "Wed, 01 Jan 2025 00:00:00 GMT" -> 0s, true
	// "1.5"                           -> 0s, false
}
