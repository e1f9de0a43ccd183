package k8s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// LogOptions select a container's log lines.
type LogOptions struct {
	// Follow keeps the stream open for new lines.
	Follow bool
	// Since, if not zero, starts at lines written at or after it.
	Since time.Time
	// TailLines, if positive, starts that many lines before the end.
	TailLines int64
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool
	// LimitBytes, if positive, ends the stream after that many bytes.
	LimitBytes int64
}

// Logs streams a container's log through the API server's pods/log. The caller closes the
// stream; with Follow it ends when ctx does or the container stops.
func Logs(ctx context.Context, c *Client, pod, container string, opts LogOptions) (io.ReadCloser, error) {
	lo := &corev1.PodLogOptions{Container: container, Follow: opts.Follow, Timestamps: opts.Timestamps}
	if !opts.Since.IsZero() {
		t := metav1.NewTime(opts.Since)
		lo.SinceTime = &t
	}
	if opts.TailLines > 0 {
		lo.TailLines = &opts.TailLines
	}
	if opts.LimitBytes > 0 {
		lo.LimitBytes = &opts.LimitBytes
	}
	rc, err := c.Clientset.CoreV1().Pods(c.Namespace).GetLogs(pod, lo).Stream(ctx)
	if err != nil {
		return nil, streamError(fmt.Sprintf("logs of pod %q", pod), "pods/log", c.Namespace, err)
	}
	return rc, nil
}

// DialPort opens one connection to a port of a pod through the API server's pods/portforward
// (SPDY; tunnelled over WebSocket when the server offers it). Closing the connection ends the
// forward. An error the kubelet reports (nothing listens on the port) fails the next Read.
func DialPort(ctx context.Context, c *Client, pod string, port uint16) (io.ReadWriteCloser, error) {
	op := fmt.Sprintf("port forward to pod %q port %d", pod, port)
	if c.Config == nil {
		return nil, fmt.Errorf("%s: %w: the client has no REST config", op, ErrInvalidKubeconfig)
	}
	u, err := url.Parse(c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.Namespace).
		Name(pod).SubResource("portforward").URL().String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var dialer httpstream.Dialer = spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	if ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, c.Config); err == nil {
		dialer = portforward.NewFallbackDialerForStreaming(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	type dialed struct {
		conn httpstream.Connection
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		conn, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		ch <- dialed{conn, err}
	}()
	var conn httpstream.Connection
	select {
	case d := <-ch:
		if d.err != nil {
			return nil, streamError(op, "pods/portforward", c.Namespace, d.err)
		}
		conn = d.conn
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.conn != nil {
				_ = d.conn.Close()
			}
		}()
		return nil, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(headers)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: error stream: %w", op, err)
	}
	_ = errStream.Close() // this side never writes on it
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: data stream: %w", op, err)
	}
	pc := &portConn{conn: conn, data: data, done: make(chan struct{})}
	go pc.watchErrors(errStream, op)
	return pc, nil
}

// portConn is one forwarded connection: its data stream, and the kubelet's error stream,
// watched by a goroutine that Close stops.
type portConn struct {
	conn httpstream.Connection
	data httpstream.Stream
	done chan struct{}

	mu     sync.Mutex
	remote error
	once   sync.Once
}

func (p *portConn) watchErrors(s httpstream.Stream, op string) {
	defer close(p.done)
	msg, err := io.ReadAll(s)
	if err == nil && len(msg) > 0 {
		p.mu.Lock()
		p.remote = fmt.Errorf("%s: %s", op, msg)
		p.mu.Unlock()
		_ = p.data.Reset()
	}
}

func (p *portConn) Read(b []byte) (int, error) {
	n, err := p.data.Read(b)
	if err != nil {
		p.mu.Lock()
		if p.remote != nil {
			err = p.remote
		}
		p.mu.Unlock()
	}
	return n, err
}

func (p *portConn) Write(b []byte) (int, error) { return p.data.Write(b) }

// Close ends the forward and waits for the error-stream watcher.
func (p *portConn) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.data.Close(), p.conn.Close())
		<-p.done
	})
	return err
}
