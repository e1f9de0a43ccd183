package k8s

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File operations run tar, stat, find, mkdir and rm in the container through Exec, as kubectl
// cp does: the image needs those tools and /bin/sh, nothing else.

// ErrFileOp means a file operation failed in the container for another reason than a missing
// file (ErrNotFound) or a refusal by the API server: a directory where a file was expected, a
// permission, a full disk. The message carries the tool's own.
var ErrFileOp = errors.New("file operation failed")

// ErrTooLarge means a file is larger than the limit the caller set.
var ErrTooLarge = errors.New("file too large")

// FileInfo describes one file in a container.
type FileInfo struct {
	// Name is the file's base name; Path the full path asked for (or listed).
	Name, Path string
	Size       int64
	Mode       fs.FileMode
	ModTime    time.Time
}

// IsDir reports whether the file is a directory.
func (f FileInfo) IsDir() bool { return f.Mode.IsDir() }

// tarRecord is GNU tar's default record size: a stream padded to it lets tar finish at the
// end-of-archive marker without waiting for the end of its input.
const tarRecord = 20 * 512

// maxStderr bounds the error output kept from a file command.
const maxStderr = 4 << 10

// limitedBuffer keeps the first max bytes written to it (safe for one writer and later readers
// after the exec returned).
type limitedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}

// run runs a file command and turns a non-zero exit into an error classified from its stderr.
func run(ctx context.Context, c *Client, pod, container, op string, argv []string, stdin io.Reader, stdout io.Writer) error {
	errOut := &limitedBuffer{max: maxStderr}
	if stdout == nil {
		stdout = io.Discard
	}
	code, err := Exec(ctx, c, pod, container, ExecOptions{Command: argv, Stdin: stdin, Stdout: stdout, Stderr: errOut})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if code != 0 {
		return fileError(op, code, errOut.String())
	}
	return nil
}

func fileError(op string, code int, stderr string) error {
	kind := ErrFileOp
	if strings.Contains(stderr, "No such file") || strings.Contains(stderr, "can't cd") || strings.Contains(stderr, "can't stat") {
		kind = ErrNotFound
	}
	if stderr == "" {
		stderr = "exit code " + strconv.Itoa(code)
	}
	return fmt.Errorf("%s: %w: %s", op, kind, stderr)
}

// ReadFile streams the regular file at p (an absolute or working-directory-relative path,
// symlinks followed) to w, refusing files larger than limit (0: no limit), and returns its
// information. It runs tar in the container and reads the single entry it expects: any other
// entry (a directory, a link, another name) is refused, so nothing in the stream decides where
// the bytes go.
func ReadFile(ctx context.Context, c *Client, pod, container, p string, w io.Writer, limit int64) (FileInfo, error) {
	op := fmt.Sprintf("read %s in pod %q", p, pod)
	dir, base := path.Split(path.Clean(p))
	if dir == "" {
		dir = "."
	}
	pr, pw := io.Pipe()
	var info FileInfo
	type result struct {
		err        error
		structural bool // the archive is not the one file asked for (or too large)
	}
	parsed := make(chan result, 1)
	go func() {
		structural, err := readSingleEntry(pr, base, w, limit, &info)
		if err != nil {
			pr.CloseWithError(err) // stops tar's output: the exec ends
		} else {
			_, _ = io.Copy(io.Discard, pr) // the archive's end blocks
		}
		parsed <- result{err, structural}
	}()
	err := run(ctx, c, pod, container, op, []string{"tar", "-c", "-h", "-f", "-", "-C", dir, "--", base}, nil, pw)
	pw.CloseWithError(err)
	res := <-parsed
	switch {
	case res.err != nil && (res.structural || err == nil):
		return FileInfo{}, fmt.Errorf("%s: %w", op, res.err)
	case err != nil:
		return FileInfo{}, err
	}
	info.Path = p
	return info, nil
}

func readSingleEntry(r io.Reader, base string, w io.Writer, limit int64, info *FileInfo) (structural bool, err error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return false, fmt.Errorf("%w: reading the archive: %w", ErrFileOp, err)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
	switch {
	case name != base:
		return true, fmt.Errorf("%w: unexpected entry %q in the archive", ErrFileOp, h.Name)
	case h.Typeflag == tar.TypeDir:
		return true, fmt.Errorf("%w: %s is a directory", ErrFileOp, base)
	case h.Typeflag != tar.TypeReg:
		return true, fmt.Errorf("%w: %s is not a regular file", ErrFileOp, base)
	case limit > 0 && h.Size > limit:
		return true, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrTooLarge, base, h.Size, limit)
	}
	*info = FileInfo{Name: base, Size: h.Size, Mode: h.FileInfo().Mode(), ModTime: h.ModTime}
	if _, err := io.CopyN(w, tr, h.Size); err != nil {
		return false, fmt.Errorf("copy %s: %w", base, err)
	}
	return false, nil
}

// WriteFile writes size bytes from r to the file at p with mode (permission bits), replacing
// it, by streaming a one-entry tar archive to tar in the container. The entry is named by p's
// base name and extracted in p's directory, which must exist. r must hold exactly size bytes.
func WriteFile(ctx context.Context, c *Client, pod, container, p string, r io.Reader, size int64, mode fs.FileMode) error {
	op := fmt.Sprintf("write %s in pod %q", p, pod)
	dir, base := path.Split(path.Clean(p))
	if dir == "" {
		dir = "."
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeSingleEntry(pw, base, r, size, mode)
		pw.CloseWithError(err)
		done <- err
	}()
	err := run(ctx, c, pod, container, op, []string{"tar", "-x", "-m", "-o", "-f", "-", "-C", dir}, pr, nil)
	pr.CloseWithError(errExecEnded)
	// A content error (short, too long, unreadable) explains a failed tar best.
	if werr := <-done; werr != nil && !errors.Is(werr, errExecEnded) {
		return fmt.Errorf("%s: %w", op, werr)
	}
	return err
}

var errExecEnded = errors.New("exec ended")

func writeSingleEntry(w io.Writer, base string, r io.Reader, size int64, mode fs.FileMode) error {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	tw := tar.NewWriter(bw)
	if err := tw.WriteHeader(&tar.Header{
		Name: base, Typeflag: tar.TypeReg, Size: size, Mode: int64(mode.Perm()), ModTime: time.Now(), Format: tar.FormatPAX,
	}); err != nil {
		return err
	}
	n, err := io.CopyN(tw, r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the content ended after %d of %d bytes", ErrFileOp, n, size)
		}
		return err
	}
	if extra, _ := r.Read(make([]byte, 1)); extra > 0 {
		return fmt.Errorf("%w: the content is longer than the %d bytes announced", ErrFileOp, size)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if pad := (tarRecord - cw.n%tarRecord) % tarRecord; pad > 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// statFormat prints size, raw mode (hex), modification time and name, one file a line.
const statFormat = "%s %f %Y %n"

// Stat describes the file at p (a link itself, not its target).
func Stat(ctx context.Context, c *Client, pod, container, p string) (FileInfo, error) {
	op := fmt.Sprintf("stat %s in pod %q", p, pod)
	var out bytes.Buffer
	if err := run(ctx, c, pod, container, op, []string{"stat", "-c", statFormat, "--", p}, nil, &out); err != nil {
		return FileInfo{}, err
	}
	infos, err := parseStat(out.String(), "")
	if err != nil || len(infos) != 1 {
		return FileInfo{}, fmt.Errorf("%s: %w: unexpected output %q", op, ErrFileOp, out.String())
	}
	infos[0].Path, infos[0].Name = p, path.Base(p)
	return infos[0], nil
}

// ListDir describes the entries of the directory at p, in no particular order.
func ListDir(ctx context.Context, c *Client, pod, container, p string) ([]FileInfo, error) {
	op := fmt.Sprintf("list %s in pod %q", p, pod)
	var out bytes.Buffer
	script := `cd -- "$1" || exit 2; exec find . -mindepth 1 -maxdepth 1 -exec stat -c "$2" -- {} +`
	if err := run(ctx, c, pod, container, op, []string{"/bin/sh", "-c", script, "fsa-ls", p, statFormat}, nil, &out); err != nil {
		return nil, err
	}
	infos, err := parseStat(out.String(), p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return infos, nil
}

// parseStat reads statFormat lines. A name holding a newline continues on the next line(s):
// a line that does not start like a record belongs to the previous name.
func parseStat(out, dir string) ([]FileInfo, error) {
	var infos []FileInfo
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" && len(infos) == 0 {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		var size, mtime int64
		var raw uint64
		var err error
		ok := len(f) == 4
		if ok {
			size, err = strconv.ParseInt(f[0], 10, 64)
			ok = err == nil
		}
		if ok {
			raw, err = strconv.ParseUint(f[1], 16, 32)
			ok = err == nil
		}
		if ok {
			mtime, err = strconv.ParseInt(f[2], 10, 64)
			ok = err == nil
		}
		if !ok {
			if len(infos) == 0 {
				return nil, fmt.Errorf("%w: unexpected stat output %q", ErrFileOp, line)
			}
			infos[len(infos)-1].Name += "\n" + line
			continue
		}
		infos = append(infos, FileInfo{Name: strings.TrimPrefix(f[3], "./"), Size: size, Mode: modeFromUnix(uint32(raw)),
			ModTime: time.Unix(mtime, 0).UTC()})
	}
	if dir != "" {
		for i := range infos {
			infos[i].Path = path.Join(dir, infos[i].Name)
		}
	}
	return infos, nil
}

// modeFromUnix converts a raw st_mode to an fs.FileMode.
func modeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// Mkdir makes the directory p with mode (permission bits), and its parents if parents is set
// (with the container's default mode).
func Mkdir(ctx context.Context, c *Client, pod, container, p string, mode fs.FileMode, parents bool) error {
	argv := []string{"mkdir", "-m", strconv.FormatUint(uint64(mode.Perm()), 8)}
	if parents {
		argv = append(argv, "-p")
	}
	return run(ctx, c, pod, container, fmt.Sprintf("mkdir %s in pod %q", p, pod), append(argv, "--", p), nil, nil)
}

// Remove removes the file or empty directory p; with recursive, a directory and everything in
// it. A missing p is ErrNotFound.
func Remove(ctx context.Context, c *Client, pod, container, p string, recursive bool) error {
	script := `[ -e "$1" ] || [ -L "$1" ] || { echo "$1: No such file or directory" >&2; exit 2; }
if [ "$2" = r ]; then exec rm -rf -- "$1"; fi
if [ -d "$1" ] && [ ! -L "$1" ]; then exec rmdir -- "$1"; fi
exec rm -f -- "$1"`
	flag := "-"
	if recursive {
		flag = "r"
	}
	return run(ctx, c, pod, container, fmt.Sprintf("remove %s in pod %q", p, pod),
		[]string{"/bin/sh", "-c", script, "fsa-rm", p, flag}, nil, nil)
}
