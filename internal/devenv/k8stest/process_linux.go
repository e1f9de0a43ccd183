package k8stest

import "syscall"

// childAttr puts the child in its own process group (so stop can signal everything it started)
// and asks the kernel to SIGKILL it when the thread that started it dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
