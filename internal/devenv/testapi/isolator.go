package testapi

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Isolator wraps a Raft stream layer with a switch that cuts the node off from its peers.
// While isolated it refuses to dial, drops every accepted connection and fails the open ones,
// so no Raft message crosses in either direction: a one-node network partition without network
// namespaces. The HTTP API is not affected, so a test can still ask the isolated node to write
// and watch it fail.
type Isolator struct {
	raft.StreamLayer

	mu       sync.Mutex
	isolated bool
	conns    map[net.Conn]struct{}
}

var _ raft.StreamLayer = (*Isolator)(nil)

// NewIsolator wraps sl, not isolated.
func NewIsolator(sl raft.StreamLayer) *Isolator {
	return &Isolator{StreamLayer: sl, conns: map[net.Conn]struct{}{}}
}

var errIsolated = errors.New("raft transport isolated by fault injection")

// Accept implements net.Listener; while isolated, connections are closed on arrival.
func (l *Isolator) Accept() (net.Conn, error) {
	for {
		c, err := l.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := l.track(c); ok {
			return tc, nil
		}
		_ = c.Close()
	}
}

// Dial implements raft.StreamLayer.
func (l *Isolator) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.Isolated() {
		return nil, errIsolated
	}
	c, err := l.StreamLayer.Dial(address, timeout)
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
func (l *Isolator) Isolated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isolated
}

// SetIsolated cuts the node off (closing every open Raft connection) or reconnects it.
func (l *Isolator) SetIsolated(v bool) {
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

func (l *Isolator) track(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isolated {
		return nil, false
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, true
}

// trackedConn removes itself from its isolator when closed, and fails reads and writes while
// the node is isolated.
type trackedConn struct {
	net.Conn
	l    *Isolator
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
