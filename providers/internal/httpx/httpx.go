// Package httpx holds the HTTP plumbing every hand-written provider client
// shares: a client with per-call timeouts that honours HTTP(S)_PROXY and
// never follows a redirect to another host, bounded body reads, and retries
// with backoff and jitter that stay inside the caller's deadline.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// DefaultCallTimeout bounds one HTTP round trip.
const DefaultCallTimeout = 10 * time.Second

// MaxBody is the default bound on a response body.
const MaxBody = 1 << 20

// NewClient returns a client whose every request times out after
// callTimeout, that uses the environment's proxy settings (and so the
// system's roots, SSL_CERT_FILE included), and that refuses redirects: a
// credential is only ever sent to the host the provider chose.
func NewClient(callTimeout time.Duration) *http.Client {
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: callTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = callTimeout
	tr.ResponseHeaderTimeout = callTimeout
	return &http.Client{
		Timeout:   callTimeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return fmt.Errorf("refusing redirect to %s", req.URL.Host)
		},
	}
}

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("response body too large")

// ReadBody reads at most limit bytes of r; a longer body is an error.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrBodyTooLarge, limit)
	}
	return b, nil
}

// Retryable marks an error worth another attempt (throttling, 5xx, a
// connection reset). Wrap the cause: errors.Is/As still see it.
type Retryable struct{ Err error }

func (r Retryable) Error() string { return r.Err.Error() }
func (r Retryable) Unwrap() error { return r.Err }

// Backoff is a retry policy.
type Backoff struct {
	Attempts int           // total attempts, at least 1
	Base     time.Duration // first delay; doubled each time, with full jitter
	Max      time.Duration // cap on one delay
}

// DefaultBackoff suits token endpoints: a few quick retries.
var DefaultBackoff = Backoff{Attempts: 5, Base: 200 * time.Millisecond, Max: 3 * time.Second}

// Do calls fn until it succeeds, returns an error that is not Retryable,
// or the attempts are used up. It never sleeps past ctx's deadline: when the
// next delay would overrun it, Do returns the last error at once.
func (b Backoff) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	attempts := max(b.Attempts, 1)
	delay := b.Base
	var err error
	for i := 0; i < attempts; i++ {
		err = fn(ctx)
		var r Retryable
		if err == nil || !errors.As(err, &r) {
			return err
		}
		if i == attempts-1 {
			break
		}
		sleep := time.Duration(rand.Int64N(int64(delay) + 1))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sleep {
			break
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(delay*2, b.Max)
	}
	return err
}
