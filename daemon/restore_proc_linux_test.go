package daemon_test

import "syscall"

// restoreProcAttr puts a node of TestRestoreIntoNewCluster in its own process group and has the
// kernel SIGKILL it if the test process dies, so a crashed test leaves no daemon behind.
func restoreProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
