package fsadtest

import "syscall"

// procAttr puts fsad in its own process group and has the kernel SIGKILL it if the process that
// started it dies, so a crashed test leaves no daemon behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
