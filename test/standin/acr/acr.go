// Package acr is a local stand-in of the Azure side of pullkey's ACR
// provider: a managed identity endpoint of the App Service kind (what
// azidentity uses when IDENTITY_ENDPOINT and IDENTITY_HEADER are set), and
// an ACR login server's /oauth2/exchange, served for real host names
// through the shared MITM proxy. Both record every call, and have knobs to
// misbehave (refuse, hang, throttle forever, deny).
package acr

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pullkey/pullkey/test/standin"
)

// AppServiceAPIVersion is the api-version azidentity sends to an App
// Service style identity endpoint.
const AppServiceAPIVersion = "2019-08-01"

// IMDSAPIVersion is the api-version azidentity sends to IMDS, and IMDSPath
// IMDS's token path (at the fixed address 169.254.169.254).
const (
	IMDSAPIVersion = "2018-02-01"
	IMDSPath       = "/metadata/identity/oauth2/token"
)

// Resource is what azidentity asks for: the scope without "/.default".
const Resource = "https://containerregistry.azure.net"

// Mode is how the identity endpoint behaves.
type Mode int32

const (
	// Serve issues tokens.
	Serve Mode = iota
	// Hang never answers (until the client gives up).
	Hang
	// Throttle answers 429 to every request.
	Throttle
	// NotAssigned answers 400, as IMDS does for an identity not on the VM.
	NotAssigned
	// Huge issues tokens, after standin.HugePadding bytes of whitespace.
	Huge
)

// IdentityCall is one request the identity endpoint saw.
type IdentityCall struct {
	// IMDS reports an IMDS-style request (else App Service style).
	IMDS                 bool
	APIVersion, Resource string
	// ClientID, ResourceID and ObjectID are the user-assigned identity
	// selectors (client_id; mi_res_id for App Service, msi_res_id for IMDS;
	// object_id); all empty for the system-assigned identity.
	ClientID, ResourceID, ObjectID string
	// HeaderOK reports that X-IDENTITY-HEADER carried the secret (App
	// Service) or that "Metadata: true" was sent (IMDS).
	HeaderOK bool
}

// Identity is the identity endpoint stand-in, on a loopback port (azidentity
// talks plain HTTP to it, as to the real one; loopback is never proxied).
type Identity struct {
	// TokenTTL is the lifetime of issued Entra tokens (default 1h).
	TokenTTL time.Duration

	mode   atomic.Int32
	header string
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []IdentityCall
	issued map[string]bool
	stop   chan struct{}
	once   sync.Once
}

// NewIdentity starts an identity endpoint in Serve mode on a loopback port.
func NewIdentity() *Identity {
	id := newIdentity()
	id.srv = httptest.NewServer(http.HandlerFunc(id.serve))
	return id
}

// NewIMDS starts the identity endpoint on addr, normally
// "169.254.169.254:80" inside a network namespace the test made: then
// azidentity, with no identity environment set, reaches it as IMDS. It
// answers App Service style requests too.
func NewIMDS(addr string) (*Identity, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	id := newIdentity()
	id.srv = httptest.NewUnstartedServer(http.HandlerFunc(id.serve))
	id.srv.Listener.Close()
	id.srv.Listener = ln
	id.srv.Start()
	return id, nil
}

func newIdentity() *Identity {
	return &Identity{header: randHex(16), issued: map[string]bool{}, stop: make(chan struct{}), TokenTTL: time.Hour}
}

// SetMode changes how the endpoint behaves from the next request on.
func (id *Identity) SetMode(m Mode) { id.mode.Store(int32(m)) }

// Env is azidentity's standard environment pointing at this endpoint.
func (id *Identity) Env() []string {
	return []string{"IDENTITY_ENDPOINT=" + id.srv.URL + "/msi/token", "IDENTITY_HEADER=" + id.header}
}

// RefusingEnv is the same environment pointing at a loopback port where
// nothing listens: the "no managed identity on this node" case.
func RefusingEnv() ([]string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	return []string{"IDENTITY_ENDPOINT=http://" + addr + "/msi/token", "IDENTITY_HEADER=" + randHex(8)}, nil
}

// Calls returns the requests seen so far.
func (id *Identity) Calls() []IdentityCall {
	id.mu.Lock()
	defer id.mu.Unlock()
	return append([]IdentityCall(nil), id.calls...)
}

// Issued reports whether tok is an Entra token this endpoint issued.
func (id *Identity) Issued(tok string) bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.issued[tok]
}

// IssuedTokens lists the Entra tokens issued so far.
func (id *Identity) IssuedTokens() []string {
	id.mu.Lock()
	defer id.mu.Unlock()
	var out []string
	for t := range id.issued {
		out = append(out, t)
	}
	return out
}

// Close stops the endpoint (and releases hanging requests).
func (id *Identity) Close() {
	id.once.Do(func() { close(id.stop) })
	id.srv.CloseClientConnections()
	id.srv.Close()
}

func (id *Identity) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	call := IdentityCall{
		IMDS: r.URL.Path == IMDSPath, APIVersion: q.Get("api-version"), Resource: q.Get("resource"),
		ClientID: q.Get("client_id"), ResourceID: q.Get("mi_res_id"), ObjectID: q.Get("object_id"),
		HeaderOK: r.Header.Get("X-IDENTITY-HEADER") == id.header,
	}
	wantPath, wantVersion := "/msi/token", AppServiceAPIVersion
	if call.IMDS {
		call.ResourceID = q.Get("msi_res_id")
		call.HeaderOK = r.Header.Get("Metadata") == "true"
		wantPath, wantVersion = IMDSPath, IMDSAPIVersion
	}
	id.mu.Lock()
	id.calls = append(id.calls, call)
	id.mu.Unlock()
	switch Mode(id.mode.Load()) {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-id.stop:
		}
		return
	case Throttle:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"too_many_requests"}`, http.StatusTooManyRequests)
		return
	case NotAssigned:
		http.Error(w, `{"error":"invalid_request","error_description":"Identity not found"}`, http.StatusBadRequest)
		return
	}
	switch {
	case r.Method != http.MethodGet || r.URL.Path != wantPath:
		http.Error(w, "not found", http.StatusNotFound)
		return
	case !call.HeaderOK:
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	case call.APIVersion != wantVersion || call.Resource != Resource:
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	tok := "entra-" + randHex(24)
	id.mu.Lock()
	id.issued[tok] = true
	id.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if Mode(id.mode.Load()) == Huge {
		standin.Pad(w)
	}
	json.NewEncoder(w).Encode(map[string]string{
		"access_token": tok,
		"expires_on":   fmt.Sprint(time.Now().Add(id.TokenTTL).Unix()),
		"resource":     call.Resource,
		"token_type":   "Bearer",
		"client_id":    call.ClientID,
	})
}

// Exchange is one /oauth2/exchange the registry stand-in answered.
type Exchange struct {
	// Host is the host the request was sent to (r.Host), Service the form's.
	Host, Service, Tenant string
	// TLS reports the request came over TLS (through the proxy's CONNECT).
	TLS bool
	// OK reports a refresh token was issued.
	OK bool
}

// Registry is the ACR login server stand-in: an http.Handler for any
// *.azurecr.* host, answering POST /oauth2/exchange.
type Registry struct {
	// Valid reports whether an Entra token is acceptable (usually
	// Identity.Issued).
	Valid func(string) bool
	// TTL is the refresh token's lifetime (default 3h, as ACR's).
	TTL time.Duration
	// Deny makes every exchange answer 401, as ACR does for an identity
	// without AcrPull; Throttle makes it answer 429; Hang makes it never
	// answer (for up to a minute).
	Deny, Throttle, Hang atomic.Bool
	// Minted counts refresh tokens issued.
	Minted atomic.Int64

	mu        sync.Mutex
	exchanges []Exchange
	refresh   []string
}

// Exchanges returns the exchanges seen so far.
func (g *Registry) Exchanges() []Exchange {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Exchange(nil), g.exchanges...)
}

// RefreshTokens returns the refresh tokens issued so far.
func (g *Registry) RefreshTokens() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refresh...)
}

func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth2/exchange" {
		http.Error(w, `{"errors":[{"code":"NOT_FOUND"}]}`, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusBadRequest)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if g.Hang.Load() {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	}
	host := hostOnly(r.Host)
	ex := Exchange{Host: host, Service: r.PostForm.Get("service"), Tenant: r.PostForm.Get("tenant"), TLS: r.TLS != nil}
	ok := r.PostForm.Get("grant_type") == "access_token" && ex.Service == host && ex.TLS &&
		g.Valid != nil && g.Valid(r.PostForm.Get("access_token"))
	var tok string
	switch {
	case g.Throttle.Load():
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS"}]}`, http.StatusTooManyRequests)
	case g.Deny.Load():
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+host+`/oauth2/token",service="`+host+`"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"identity lacks pull permission"}]}`, http.StatusUnauthorized)
	case !ok:
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad exchange request"}]}`, http.StatusUnauthorized)
	default:
		ttl := g.TTL
		if ttl == 0 {
			ttl = 3 * time.Hour
		}
		tok = RefreshToken(host, time.Now().Add(ttl))
		ex.OK = true
		g.Minted.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"refresh_token": tok})
	}
	g.mu.Lock()
	g.exchanges = append(g.exchanges, ex)
	if tok != "" {
		g.refresh = append(g.refresh, tok)
	}
	g.mu.Unlock()
}

// RefreshToken makes a JWT shaped like ACR's refresh token, expiring at
// exp, with a random signature (nothing checks it).
func RefreshToken(host string, exp time.Time) string {
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": randHex(4)})
	body, _ := json.Marshal(map[string]any{
		"jti": randHex(16), "sub": "standin", "nbf": time.Now().Unix(), "exp": exp.Unix(),
		"iat": time.Now().Unix(), "iss": "Azure Container Registry", "aud": host,
		"version": "1.0", "grant_type": "refresh_token",
	})
	return enc.EncodeToString(head) + "." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte(randHex(32)))
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
