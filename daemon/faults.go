package daemon

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is the Raft stream layer of a cluster node: plain TCP, plus a switch that cuts
// this node off from its peers (test-only, --fault-control). While isolated it refuses to dial,
// drops every accepted connection and closes the open ones, so no Raft message crosses in either
// direction: a one-node network partition without network namespaces. The HTTP API is not
// affected, so a test can still ask the isolated node to write and watch it fail.
type streamLayer struct {
	ln        net.Listener
	advertise advertiseAddr

	mu       sync.Mutex
	isolated bool
	conns    map[net.Conn]struct{}
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer listens on bind and advertises advertise as it is written: a DNS name stays a
// name (it is the node's Raft address in the configuration, and peers resolve it on every dial,
// so a node recreated with a new IP stays reachable under its name).
func newStreamLayer(bind, advertise string) (*streamLayer, error) {
	if _, _, err := net.SplitHostPort(advertise); err != nil {
		return nil, fmt.Errorf("raft advertise %q: %w", advertise, err)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &streamLayer{ln: ln, advertise: advertiseAddr(advertise), conns: map[net.Conn]struct{}{}}, nil
}

// advertiseAddr is an unresolved TCP address (host:port, the host possibly a DNS name). Raft's
// NetworkTransport takes the stream layer's Addr().String() as the node's own address.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

var errIsolated = errors.New("raft transport isolated by fault injection")

// Accept implements net.Listener; while isolated, connections are closed on arrival.
func (l *streamLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := l.track(c); ok {
			return tc, nil
		}
		_ = c.Close()
	}
}

// Close implements net.Listener.
func (l *streamLayer) Close() error { return l.ln.Close() }

// Addr implements net.Listener with the advertised address, unresolved.
func (l *streamLayer) Addr() net.Addr { return l.advertise }

// Dial implements raft.StreamLayer.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.Isolated() {
		return nil, errIsolated
	}
	// net.DialTimeout resolves a name afresh on every dial.
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := l.track(c); ok {
		return tc, nil
	}
	_ = c.Close()
	return nil, errIsolated
}

// Isolated reports whether the node is cut off.
func (l *streamLayer) Isolated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isolated
}

// SetIsolated cuts the node off (closing every open Raft connection) or reconnects it.
func (l *streamLayer) SetIsolated(v bool) {
	l.mu.Lock()
	l.isolated = v
	var open []net.Conn
	if v {
		for c := range l.conns {
			open = append(open, c)
		}
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

func (l *streamLayer) track(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isolated {
		return nil, false
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, true
}

// trackedConn removes itself from its layer when closed, and fails reads and writes while the
// layer is isolated.
type trackedConn struct {
	net.Conn
	l    *streamLayer
	once sync.Once
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.l.Isolated() {
		return 0, errIsolated
	}
	return c.Conn.Read(b)
}

func (c *trackedConn) Write(b []byte) (int, error) {
	if c.l.Isolated() {
		return 0, errIsolated
	}
	return c.Conn.Write(b)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
