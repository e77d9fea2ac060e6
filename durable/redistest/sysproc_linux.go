package redistest

import "syscall"

// sysProcAttr makes the kernel kill the redis-server when the test binary
// dies without stopping it (a test timeout's panic, a SIGKILL). Linux
// sends the signal when the thread that started the server ends, and Go
// ends a thread before its process only when a goroutine locked to it
// exits, which the tests' code does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
