package daemon

import (
	"errors"
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
	advertise net.Addr

	mu       sync.Mutex
	isolated bool
	conns    map[net.Conn]struct{}
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(bind, advertise string) (*streamLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &streamLayer{ln: ln, advertise: adv, conns: map[net.Conn]struct{}{}}, nil
}

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

// Addr implements net.Listener with the advertised address.
func (l *streamLayer) Addr() net.Addr { return l.advertise }

// Dial implements raft.StreamLayer.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.Isolated() {
		return nil, errIsolated
	}
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
