package api

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder collects what a chunkPipe sends, copying each message as a client would receive it.
type recorder struct {
	mu     sync.Mutex
	msgs   [][]byte
	failAt int // fail the send of this message (1-based); 0: never
}

func (r *recorder) send(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAt > 0 && len(r.msgs)+1 == r.failAt {
		return errors.New("client gone")
	}
	r.msgs = append(r.msgs, bytes.Clone(b))
	return nil
}

func TestChunkPipe(t *testing.T) {
	data := make([]byte, 5*chunkSize+12345)
	_, _ = rand.Read(data)
	for name, copyInto := range map[string]func(w *chunkPipe) error{
		"ReadFrom in small reads": func(w *chunkPipe) error {
			_, err := io.Copy(w, iotest.HalfReader(bytes.NewReader(data)))
			return err
		},
		"Write in odd sizes": func(w *chunkPipe) error {
			for off := 0; off < len(data); off += 7777 {
				if _, err := w.Write(data[off:min(len(data), off+7777)]); err != nil {
					return err
				}
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := &recorder{}
			w := newChunkPipe(r.send)
			require.NoError(t, copyInto(w))
			require.NoError(t, w.Close(true))
			require.Len(t, r.msgs, 6)
			for i, m := range r.msgs[:5] {
				assert.Len(t, m, chunkSize, "message %d is full", i)
			}
			assert.Equal(t, data, bytes.Join(r.msgs, nil), "the bytes, in order")
		})
	}
	t.Run("a failed send stops the writer", func(t *testing.T) {
		r := &recorder{failAt: 2}
		w := newChunkPipe(r.send)
		_, err := io.Copy(w, bytes.NewReader(data))
		require.ErrorContains(t, err, "client gone")
		require.ErrorContains(t, w.Close(true), "client gone")
		assert.Len(t, r.msgs, 1)
	})
	t.Run("without flush the rest is dropped", func(t *testing.T) {
		r := &recorder{}
		w := newChunkPipe(r.send)
		_, err := w.Write(data[:chunkSize+10])
		require.NoError(t, err)
		require.NoError(t, w.Close(false))
		require.Len(t, r.msgs, 1)
		assert.Equal(t, data[:chunkSize], r.msgs[0])
	})
	t.Run("a read error is returned", func(t *testing.T) {
		w := newChunkPipe((&recorder{}).send)
		_, err := w.ReadFrom(iotest.ErrReader(io.ErrUnexpectedEOF))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		require.NoError(t, w.Close(false))
	})
}
