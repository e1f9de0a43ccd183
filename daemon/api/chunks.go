package api

import (
	"errors"
	"io"
	"sync"
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
