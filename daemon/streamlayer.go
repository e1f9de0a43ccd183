package daemon

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is the Raft stream layer of a cluster node: plain TCP, advertising its address
// unresolved.
type streamLayer struct {
	ln        net.Listener
	advertise advertiseAddr
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
	return &streamLayer{ln: ln, advertise: advertiseAddr(advertise)}, nil
}

// advertiseAddr is an unresolved TCP address (host:port, the host possibly a DNS name). Raft's
// NetworkTransport takes the stream layer's Addr().String() as the node's own address.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

// Accept implements net.Listener.
func (l *streamLayer) Accept() (net.Conn, error) { return l.ln.Accept() }

// Close implements net.Listener.
func (l *streamLayer) Close() error { return l.ln.Close() }

// Addr implements net.Listener with the advertised address, unresolved.
func (l *streamLayer) Addr() net.Addr { return l.advertise }

// Dial implements raft.StreamLayer. net.DialTimeout resolves a name afresh on every dial.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}
