package k8stest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// process is one control-plane binary running in its own process group, with its output in a
// log file. Its waiter goroutine is owned by the process and ends when the child exits.
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	pid  int
	done chan struct{} // closed when the child has exited and been reaped
	err  error         // exit status; read only after done is closed
}

func newProcess(name, path, logPath string, args []string) *process {
	return &process{name: name, path: path, args: args, logPath: logPath}
}

// start launches the child. On Linux the child gets SIGKILL if this process dies (Pdeathsig), so
// a test binary that panics or is killed does not leave a control plane behind.
func (p *process) start() error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: open log: %w", p.name, err)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	p.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig is delivered when the *thread* that forked the child exits, so that thread
		// stays locked to this goroutine until the child has been reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(p.done)
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			p.err = err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	return nil
}

// exited reports whether the child has exited, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL after grace, and waits until the
// child has been reaped. Stopping a process that already exited is a no-op.
func (p *process) stop(grace time.Duration) {
	if p.done == nil {
		return
	}
	if done, _ := p.exited(); done {
		return
	}
	_ = signalGroup(p.pid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = signalGroup(p.pid, syscall.SIGKILL)
		<-p.done
	}
}

// exitError describes an unexpected exit with the tail of the process log.
func (p *process) exitError() error {
	_, err := p.exited()
	if err == nil {
		err = errors.New("exited with status 0")
	}
	return fmt.Errorf("%s exited: %w; log %s ends:\n%s", p.name, err, p.logPath, tail(p.logPath, 20))
}

// tail returns the last n lines of a file (for error messages).
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
