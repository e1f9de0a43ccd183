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
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
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

// TestUploadCodec: SandboxService's codec decodes every message as protobuf does; data-only
// WriteFile messages up to chunkSize land in chunkBufs buffers, which may be reused after
// putChunk without changing a message decoded before.
func TestUploadCodec(t *testing.T) {
	big := make([]byte, chunkSize)
	_, _ = rand.Read(big)
	withUnknown, err := proto.Marshal(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("abc")}})
	require.NoError(t, err)
	withUnknown = protowire.AppendVarint(protowire.AppendTag(withUnknown, 99, protowire.VarintType), 7)
	twice, err := proto.Marshal(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("first")}})
	require.NoError(t, err)
	second, err := proto.Marshal(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("second")}})
	require.NoError(t, err)
	twice = append(twice, second...)
	wire := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		name   string
		data   []byte
		pooled bool // decoded into a chunkBufs buffer
	}{
		{"data", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("hello")}}), true},
		{"empty data", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte{}}}), true},
		{"full chunk", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: big}}), true},
		{"over a chunk", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: append(big, 1)}}), false},
		{"start", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Start{Start: &fsav1.WriteFileStart{
			ProjectId: "p", Path: "a/b", Size: 3, Mode: 0o600}}}), false},
		{"no event", nil, false},
		{"data and an unknown field", withUnknown, false},
		{"data twice", twice, false},
		{"truncated", wire(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("hello")}})[:4], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := &fsav1.WriteFileRequest{}
			wantErr := proto.Unmarshal(tc.data, want)
			got := &fsav1.WriteFileRequest{}
			err := uploadCodec{}.Unmarshal(tc.data, got)
			if wantErr != nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, proto.Equal(want, got), "got %v, want %v", got, want)
			assert.Equal(t, tc.pooled, cap(got.GetData()) == chunkSize)
			if tc.pooled {
				before := bytes.Clone(got.GetData())
				putChunk(got.GetData())
				other := &fsav1.WriteFileRequest{}
				require.NoError(t, uploadCodec{}.Unmarshal(wire(&fsav1.WriteFileRequest{
					Event: &fsav1.WriteFileRequest_Data{Data: bytes.Repeat([]byte{0xee}, len(before))}}), other))
				assert.Equal(t, bytes.Repeat([]byte{0xee}, len(before)), other.GetData())
			}
		})
	}
	// Other messages go through plain protobuf both ways.
	in := &fsav1.ExecRequest{ProjectId: "p", Command: []string{"ls", "-l"}}
	b, err := uploadCodec{}.Marshal(in)
	require.NoError(t, err)
	out := &fsav1.ExecRequest{}
	require.NoError(t, uploadCodec{}.Unmarshal(b, out))
	assert.True(t, proto.Equal(in, out))
	stable, err := uploadCodec{}.MarshalStable(in)
	require.NoError(t, err)
	assert.Equal(t, b, stable)
	assert.True(t, uploadCodec{}.IsBinary())
	_, err = uploadCodec{}.Marshal("not a message")
	require.Error(t, err)
	_, err = uploadCodec{}.MarshalStable("not a message")
	require.Error(t, err)
	require.Error(t, uploadCodec{}.Unmarshal(b, new(string)))
}
