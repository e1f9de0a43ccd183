//go:build fsadtest && !unix

package daemon

// pauseBeforeWrite is unavailable without Unix signals: no endpoint.
func (d *daemon) pauseBeforeWrite() func() { return nil }
