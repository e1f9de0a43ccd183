//go:build !linux

package fsadtest

import "syscall"

// procAttr puts fsad in its own process group (no Pdeathsig outside Linux).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
