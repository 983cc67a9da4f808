// Package standin defines how a local stand-in of a cloud plugs into
// `make demo` and the end-to-end tests: each cloud's stand-in (in a
// sub-package: standin/ecr, standin/acr, standin/github) serves the real
// host names it plays behind one shared MITM proxy (harness.Proxy), may
// start loopback servers of its own (an IMDS), and says which environment
// and pullkey configuration section make pullkey use it.
package standin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
)

// Demo is one cloud's stand-in as the demo uses it.
type Demo struct {
	// Provider is the pullkey provider the stand-in serves ("ecr").
	Provider string
	// Plays reports whether a host (as asked through the proxy) is served
	// by Handler.
	Plays func(host string) bool
	// Handler serves requests for the hosts in Plays.
	Handler http.Handler
	// Env is extra environment for pullkey (endpoints of loopback servers
	// the stand-in started, ...).
	Env []string
	// Config is pullkey's providers.<Provider> section, or nil.
	Config json.RawMessage
	// Images are the images the demo resolves through this provider.
	Images []string
	// Calls counts upstream calls that mint a credential.
	Calls *atomic.Int64
	// Close stops whatever the stand-in started.
	Close func()
}

// Router sends each proxied request to the first Demo that plays its host,
// and answers 502 for any other host, so nothing leaves the machine.
func Router(demos []*Demo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, d := range demos {
			if d.Plays != nil && d.Plays(hostOnly(r.Host)) {
				d.Handler.ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "no stand-in plays "+r.Host, http.StatusBadGateway)
	})
}

func hostOnly(h string) string {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
		if h[i] < '0' || h[i] > '9' {
			break
		}
	}
	return h
}

// HugePadding is how many bytes of whitespace Pad writes: far over the
// 1 MiB pullkey reads of any body.
const HugePadding = 8 << 20

// Pad writes HugePadding bytes of JSON whitespace, stopping at the first
// write error (the client hung up). Written before a valid JSON answer, it
// makes an answer a client reading without a bound would accept.
func Pad(w io.Writer) {
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	for n := 0; n < HugePadding; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}
