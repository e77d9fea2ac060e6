package job_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetHTTP: package job does not link net/http, nor any other package
// under net: a program that only retries function calls must not pay for an
// HTTP stack (job.ParseRetryAfter parses HTTP-dates with the time package).
func TestNoNetHTTP(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	const pkg = "github.com/rebound-go/rebound/job"
	out, err := exec.Command(gocmd, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr(err))
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != pkg {
		t.Fatalf("go list -deps %s listed %q, want its dependencies and then the package itself", pkg, deps)
	}
	for _, d := range deps {
		if d == "net" || strings.HasPrefix(d, "net/") {
			t.Errorf("%s depends on %s, want no package under net", pkg, d)
		}
	}
}

// stderr returns what a failed command wrote to its standard error.
func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
