package httpx

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// countingBody counts the bytes taken from an endless source.
type countingBody struct{ n int64 }

func (c *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n += int64(len(p))
	return len(p), nil
}
func (c *countingBody) Close() error { return nil }

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBoundBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	defer srv.Close()
	c := &http.Client{Transport: BoundBodies(http.DefaultTransport, 100)}
	for _, tc := range []struct {
		n       int
		wantErr bool
	}{{0, false}, {1, false}, {100, false}, {101, true}, {1 << 20, true}} {
		resp, err := c.Get(srv.URL + "?n=" + strconv.Itoa(tc.n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case tc.wantErr && !errors.Is(err, ErrBodyTooLarge):
			t.Errorf("n=%d: err %v, want ErrBodyTooLarge", tc.n, err)
		case tc.wantErr && !strings.Contains(err.Error(), "over 100 bytes"):
			t.Errorf("n=%d: error %q does not name the limit", tc.n, err)
		case !tc.wantErr && (err != nil || len(b) != tc.n):
			t.Errorf("n=%d: read %d bytes, err %v", tc.n, len(b), err)
		}
	}
}

// TestBoundBodiesStopsReading: an endless body costs limit+1 bytes, not
// memory without end.
func TestBoundBodiesStopsReading(t *testing.T) {
	const limit = 1 << 20
	src := &countingBody{}
	rt := BoundBodies(rtFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: src, Request: r}, nil
	}), limit)
	req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err %v, want ErrBodyTooLarge", err)
	}
	if len(b) != limit || src.n != limit+1 {
		t.Errorf("returned %d bytes and took %d from the wire, want %d and %d", len(b), src.n, limit, limit+1)
	}
}

// TestBoundBodiesPassesErrors: a transport error or a body-less response
// passes through untouched.
func TestBoundBodiesPassesErrors(t *testing.T) {
	boom := errors.New("boom")
	rt := BoundBodies(rtFunc(func(r *http.Request) (*http.Response, error) { return nil, boom }), 10)
	req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
	rt = BoundBodies(rtFunc(func(r *http.Request) (*http.Response, error) { return &http.Response{StatusCode: 204}, nil }), 10)
	if resp, err := rt.RoundTrip(req); err != nil || resp.Body != nil {
		t.Errorf("got %v, %v", resp, err)
	}
}
