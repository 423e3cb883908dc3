package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

// ErrLineTooLong: a line over MaxLine was read and discarded up to its newline.
var ErrLineTooLong = errors.New("line over 1 MiB refused")

// LineReader reads newline-terminated lines of at most max bytes without ever holding more.
type LineReader struct {
	r   *bufio.Reader
	max int
}

// NewLineReader wraps r.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64*1024), max: max}
}

// Next returns the next line without its newline, ErrLineTooLong (the line is skipped), or
// the reader's error (io.EOF at the end; a last line without newline is still returned).
func (l *LineReader) Next() ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > l.max+2 { // room for "\r\n"; the content is checked below
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			if err != nil && err != io.EOF {
				return nil, err
			}
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, ErrLineTooLong
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) > l.max {
			return nil, ErrLineTooLong
		}
		return line, nil
	}
}

// Writer writes one JSON object per line; safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter wraps w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write encodes v as one line.
func (o *Writer) Write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"id":null,"ok":false,"error":"internal: unencodable reply"}`)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(append(b, '\n'))
}

// Reply is the one answer to a request: ok with result fields merged in, or an error.
func Reply(id *int64, result map[string]any, err error) map[string]any {
	out := map[string]any{"id": nil}
	if id != nil {
		out["id"] = *id
	}
	if err != nil {
		out["ok"] = false
		out["error"] = err.Error()
		return out
	}
	for k, v := range result {
		out[k] = v
	}
	out["ok"] = true
	return out
}
