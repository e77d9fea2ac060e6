//go:build !linux

package redistest

import "syscall"

// sysProcAttr is nil here: only Linux can tie the redis-server's life to
// the test binary's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
