package httpx

import (
	"fmt"
	"io"
	"net/http"
)

// BoundBodies returns a RoundTripper that caps every response body rt
// returns at limit bytes: reading past the limit fails with an error
// wrapping ErrBodyTooLarge, after at most limit+1 bytes were read from the
// wire. It is for clients whose bodies a library reads (go-github, the
// cloud SDKs), where ReadBody cannot be called.
func BoundBodies(rt http.RoundTripper, limit int64) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return boundTransport{next: rt, limit: limit}
}

type boundTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = BoundBody(resp.Body, t.limit)
	return resp, nil
}

// BoundBody caps rc as BoundBodies caps a response body, for clients that
// take the body from a layer above the transport (the AWS SDK's
// middleware).
func BoundBody(rc io.ReadCloser, limit int64) io.ReadCloser {
	return &boundedBody{rc: rc, left: limit, limit: limit}
}

type boundedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// One more byte means the body is over the limit.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w (over %d bytes)", ErrBodyTooLarge, b.limit)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
