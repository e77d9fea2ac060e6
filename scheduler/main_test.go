package scheduler_test

import (
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// scale returns the full size of a stress test when REBOUND_FULL=1 (set by
// .ci/run in its full-size step), and a scaled-down size otherwise.
func scale(full, small int) int {
	if v, _ := strconv.ParseBool(os.Getenv("REBOUND_FULL")); v {
		return full
	}
	return small
}
