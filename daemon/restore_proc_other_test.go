//go:build !linux

package daemon_test

import "syscall"

// restoreProcAttr puts a node of TestRestoreIntoNewCluster in its own process group.
func restoreProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
