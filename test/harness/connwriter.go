package harness

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// connResponseWriter buffers one response and writes it to a raw
// connection with a Content-Length, which is all the MITM proxy needs.
type connResponseWriter struct {
	w      io.Writer
	header http.Header
	status int
	body   bytes.Buffer
}

func newConnResponseWriter(w io.Writer) *connResponseWriter {
	return &connResponseWriter{w: w, header: http.Header{}}
}

func (c *connResponseWriter) Header() http.Header { return c.header }

func (c *connResponseWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

func (c *connResponseWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *connResponseWriter) finish() {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.header.Set("Content-Length", strconv.Itoa(c.body.Len()))
	fmt.Fprintf(c.w, "HTTP/1.1 %d %s\r\n", c.status, http.StatusText(c.status))
	c.header.Write(c.w)
	io.WriteString(c.w, "\r\n")
	c.w.Write(c.body.Bytes())
}
