package fsaclient

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
)

// maxCoalesce bounds the bytes envelopeBody gathers into one write: a larger message goes out
// in pieces of this size.
const maxCoalesce = 1 << 20

// envelopeBody is the body of a client- or bidi-streaming request (Upload, interactive exec).
// Its WriteTo, which net/http's HTTP/1.1 transport uses to copy a body, writes each whole
// message (its 5-byte envelope prefix and data) in one Write: one chunk and one flush, one
// system call. Without it the transport copies through a 32 KiB buffer, each read of the pipe
// Connect streams into a chunk and a flush of its own: the prefix alone, then every 32 KiB of
// the message. A write waits only for the message being sent, never for a later one.
type envelopeBody struct{ io.ReadCloser }

// streamsEnvelopes reports whether req's body is a stream of Connect or gRPC envelopes.
func streamsEnvelopes(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength != -1 {
		return false
	}
	ct := req.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/connect+") || strings.HasPrefix(ct, "application/grpc")
}

func (b envelopeBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	buf := make([]byte, 0, 4<<10)
	for {
		var prefix [5]byte
		n, err := io.ReadFull(b.ReadCloser, prefix[:])
		if err != nil {
			if n > 0 {
				k, werr := w.Write(prefix[:n])
				total += int64(k)
				if werr != nil {
					return total, werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return total, nil
			}
			return total, err
		}
		left := int64(binary.BigEndian.Uint32(prefix[1:]))
		buf = append(buf[:0], prefix[:]...)
		for {
			want := min(left, int64(maxCoalesce-len(buf)))
			if need := len(buf) + int(want); cap(buf) < need {
				buf = append(buf[:cap(buf)], make([]byte, need-cap(buf))...)[:len(buf)]
			}
			k, rerr := io.ReadFull(b.ReadCloser, buf[len(buf):len(buf)+int(want)])
			buf, left = buf[:len(buf)+k], left-int64(k)
			wn, werr := w.Write(buf)
			total += int64(wn)
			switch {
			case werr != nil:
				return total, werr
			case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
				return total, nil
			case rerr != nil:
				return total, rerr
			}
			buf = buf[:0]
			if left == 0 {
				break
			}
		}
	}
}
