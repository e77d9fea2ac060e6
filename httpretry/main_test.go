package httpretry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// Transport's scheduler, server and connection must have ended.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
