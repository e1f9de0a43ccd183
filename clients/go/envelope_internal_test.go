package fsaclient

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeLog records each Write it gets.
type writeLog struct {
	writes [][]byte
	failAt int // fail this write (1-based); 0: never
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.failAt > 0 && len(w.writes)+1 == w.failAt {
		return 0, errors.New("connection gone")
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func envelope(data []byte) []byte {
	b := make([]byte, 5, 5+len(data))
	binary.BigEndian.PutUint32(b[1:], uint32(len(data)))
	return append(b, data...)
}

// sendAll writes each envelope to pw as Connect does (the prefix, then the data, separately)
// and then closes pw with end (nil: a clean end).
func sendAll(pw *io.PipeWriter, envs [][]byte, end error) {
	for _, e := range envs {
		if _, err := pw.Write(e[:5]); err != nil {
			return
		}
		if len(e) > 5 {
			if _, err := pw.Write(e[5:]); err != nil {
				return
			}
		}
	}
	pw.CloseWithError(end)
}

// TestEnvelopeBody: each streamed message reaches the connection in one write (a message
// larger than maxCoalesce in maxCoalesce pieces), the bytes unchanged and in order.
func TestEnvelopeBody(t *testing.T) {
	large := make([]byte, 2*maxCoalesce+100)
	_, _ = rand.Read(large)
	envs := [][]byte{envelope([]byte("start")), envelope(nil), envelope(bytes.Repeat([]byte{7}, 256<<10)), envelope(large),
		envelope([]byte("last"))}
	pr, pw := io.Pipe()
	go sendAll(pw, envs, nil)
	w := &writeLog{}
	n, err := envelopeBody{pr}.WriteTo(w)
	require.NoError(t, err)
	want := bytes.Join(envs, nil)
	assert.Equal(t, int64(len(want)), n)
	assert.Equal(t, want, bytes.Join(w.writes, nil))
	require.Len(t, w.writes, 4+3)
	assert.Equal(t, envs[0], w.writes[0])
	assert.Equal(t, envs[1], w.writes[1])
	assert.Equal(t, envs[2], w.writes[2])
	assert.Len(t, w.writes[3], maxCoalesce)
	assert.Len(t, w.writes[4], maxCoalesce)
	assert.Len(t, w.writes[5], len(envs[3])-2*maxCoalesce)
	assert.Equal(t, envs[4], w.writes[6])
}

// TestEnvelopeBodyEnds: a stream cut inside a message passes on what came and ends like a
// plain copy; a failed write or a pipe closed with an error stops the copy with that error.
func TestEnvelopeBodyEnds(t *testing.T) {
	msg := envelope([]byte("0123456789"))
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(msg[:8])
		_ = pw.Close()
	}()
	w := &writeLog{}
	n, err := envelopeBody{pr}.WriteTo(w)
	require.NoError(t, err)
	assert.Equal(t, int64(8), n)
	assert.Equal(t, msg[:8], bytes.Join(w.writes, nil))

	pr, pw = io.Pipe()
	go sendAll(pw, [][]byte{msg}, errors.New("call canceled"))
	_, err = envelopeBody{pr}.WriteTo(&writeLog{})
	require.ErrorContains(t, err, "call canceled")

	pr, pw = io.Pipe()
	go sendAll(pw, [][]byte{msg, msg}, nil)
	_, err = envelopeBody{pr}.WriteTo(&writeLog{failAt: 2})
	require.ErrorContains(t, err, "connection gone")
	_ = pr.Close()
}

func TestStreamsEnvelopes(t *testing.T) {
	req := func(ct string, length int64, body io.ReadCloser) *http.Request {
		r, err := http.NewRequest(http.MethodPost, "http://x/fsa.v1.SandboxService/WriteFile", nil)
		require.NoError(t, err)
		r.Header.Set("Content-Type", ct)
		r.Body, r.ContentLength = body, length
		return r
	}
	stream := io.NopCloser(strings.NewReader(""))
	assert.True(t, streamsEnvelopes(req("application/connect+proto", -1, stream)))
	assert.True(t, streamsEnvelopes(req("application/grpc", -1, stream)))
	assert.True(t, streamsEnvelopes(req("application/grpc-web+proto", -1, stream)))
	assert.False(t, streamsEnvelopes(req("application/proto", 12, stream)), "unary")
	assert.False(t, streamsEnvelopes(req("application/connect+proto", -1, http.NoBody)))
	assert.False(t, streamsEnvelopes(req("application/connect+proto", -1, nil)))
}
