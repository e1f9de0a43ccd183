package api

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// chunkPipe is the writer a download streams into: it gathers the file's bytes into chunkSize
// messages and sends each full one on a goroutine of its own, so that reading the next bytes
// from the sandbox (the exec stream, through the API server) overlaps sending the previous ones
// to the client. It rotates two buffers and fills them straight from the reader (ReadFrom, which
// io.Copy uses), so a byte is copied once on its way from the exec stream to the message.
//
// One goroutine writes; Close sends what is left, waits for the sender and returns the first
// send error. After a send failed, writes fail with it (the download stops early).
type chunkPipe struct {
	send func([]byte) error
	cur  []byte
	todo chan []byte // full buffers, to the sender
	free chan []byte // sent buffers, back
	done chan struct{}

	mu  sync.Mutex
	err error // the first send error
}

func newChunkPipe(send func([]byte) error) *chunkPipe {
	p := &chunkPipe{send: send, todo: make(chan []byte, 1), free: make(chan []byte, 2), done: make(chan struct{})}
	p.cur = make([]byte, 0, chunkSize)
	p.free <- make([]byte, 0, chunkSize)
	go p.run()
	return p
}

func (p *chunkPipe) run() {
	defer close(p.done)
	for b := range p.todo {
		if p.failed() == nil {
			if err := p.send(b); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
		}
		p.free <- b[:0]
	}
}

func (p *chunkPipe) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// ship hands the current buffer, if full, to the sender and takes the other one.
func (p *chunkPipe) ship() error {
	if len(p.cur) < cap(p.cur) {
		return nil
	}
	p.todo <- p.cur
	p.cur = <-p.free
	return p.failed()
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if err := p.failed(); err != nil {
			return n, err
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur, b, n = p.cur[:len(p.cur)+k], b[k:], n+k
		if err := p.ship(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom reads r to its end straight into the buffers.
func (p *chunkPipe) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if err := p.failed(); err != nil {
			return n, err
		}
		k, err := r.Read(p.cur[len(p.cur):cap(p.cur)])
		p.cur, n = p.cur[:len(p.cur)+k], n+int64(k)
		if serr := p.ship(); serr != nil {
			return n, serr
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Close sends the last, partial buffer (with flush), waits until everything was sent and
// returns the first send error. Without flush (the download failed) the rest is dropped.
func (p *chunkPipe) Close(flush bool) error {
	if flush && len(p.cur) > 0 && p.failed() == nil {
		p.todo <- p.cur
		p.cur = nil
	}
	close(p.todo)
	<-p.done
	return p.failed()
}

// chunkBufs holds the chunkSize buffers that uploadCodec decodes WriteFile data into and
// chunkReader hands back once it has read them: an upload reuses a few buffers instead of
// allocating (and collecting) its whole size in chunkSize pieces.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// putChunk returns a data buffer that uploadCodec may have taken from chunkBufs.
func putChunk(b []byte) {
	if cap(b) == chunkSize {
		b = b[:chunkSize]
		chunkBufs.Put(&b)
	}
}

// uploadCodec is SandboxService's binary protobuf codec. It decodes a WriteFileRequest that
// holds only data (every message of an upload after the first) into a buffer from chunkBufs;
// everything else is plain protobuf.
type uploadCodec struct{}

func (uploadCodec) Name() string { return "proto" }

func (uploadCodec) Marshal(m any) ([]byte, error) { return uploadCodec{}.MarshalAppend(nil, m) }

// MarshalAppend lets Connect marshal into its pooled buffers.
func (uploadCodec) MarshalAppend(b []byte, m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.MarshalOptions{}.MarshalAppend(b, pm)
}

// MarshalStable and IsBinary make it a stable codec, as Connect's own protobuf codec is.
func (uploadCodec) MarshalStable(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pm)
}

func (uploadCodec) IsBinary() bool { return true }

func (uploadCodec) Unmarshal(data []byte, m any) error {
	if w, ok := m.(*fsav1.WriteFileRequest); ok {
		if chunk, ok := dataOnly(data); ok {
			bp := chunkBufs.Get().(*[]byte)
			buf := (*bp)[:len(chunk)]
			copy(buf, chunk)
			w.Event = &fsav1.WriteFileRequest_Data{Data: buf}
			return nil
		}
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal %T: not a protobuf message", m)
	}
	if err := proto.Unmarshal(data, pm); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	return nil
}

// dataOnly returns the content of a WriteFileRequest encoded as its data field alone (of at
// most chunkSize bytes); ok is false for any other encoding, which protobuf then decodes.
func dataOnly(b []byte) (chunk []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != writeFileDataField || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) || len(v) > chunkSize {
		return nil, false
	}
	return v, true
}

// writeFileDataField is the number of WriteFileRequest's data field.
var writeFileDataField = (&fsav1.WriteFileRequest{}).ProtoReflect().Descriptor().Fields().ByName("data").Number()
