package testapi

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// tcpLayer is a plain TCP raft.StreamLayer on 127.0.0.1.
type tcpLayer struct{ net.Listener }

func (l tcpLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

func listen(t *testing.T) tcpLayer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return tcpLayer{ln}
}

func TestIsolator(t *testing.T) {
	a, b := NewIsolator(listen(t)), NewIsolator(listen(t))

	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := b.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	bAddr := raft.ServerAddress(b.Addr().String())

	// Connected: bytes flow both ways.
	c, err := a.Dial(bAddr, time.Second)
	require.NoError(t, err)
	srv := <-accepted
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	buf := make([]byte, 1)
	_, err = io.ReadFull(srv, buf)
	require.NoError(t, err)

	// Isolating a closes its open connection (b sees EOF) and refuses new dials.
	a.SetIsolated(true)
	_, err = c.Write([]byte("y"))
	require.ErrorIs(t, err, errIsolated)
	_, err = srv.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	_, err = a.Dial(bAddr, time.Second)
	require.ErrorIs(t, err, errIsolated)

	// Isolating b drops what arrives: a's dial connects at TCP level but is closed at once.
	a.SetIsolated(false)
	b.SetIsolated(true)
	c2, err := a.Dial(bAddr, time.Second)
	require.NoError(t, err)
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c2.Read(buf)
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the isolated side must close, not stall: %v", err)

	// Healed: traffic flows again.
	b.SetIsolated(false)
	c3, err := a.Dial(bAddr, time.Second)
	require.NoError(t, err)
	_, err = c3.Write([]byte("z"))
	require.NoError(t, err)
	srv3 := <-accepted
	_, err = io.ReadFull(srv3, buf)
	require.NoError(t, err)
	require.Equal(t, "z", string(buf))
}
