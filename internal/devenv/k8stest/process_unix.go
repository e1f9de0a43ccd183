//go:build unix && !linux

package k8stest

import "syscall"

// childAttr puts the child in its own process group. There is no Pdeathsig outside Linux: a
// test binary killed without running Stop leaves its children running.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
