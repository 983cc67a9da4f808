// Package github is a stand-in of the GitHub REST API for the GitHub App
// flow pullkey uses: installation lookup and installation token minting.
// It verifies each request's App JWT (RS256 signature with the App's public
// key; iss, iat and exp as GitHub checks them), records what each token
// request asked for, and can be told to fail the ways GitHub fails (401,
// 404, 403 rate limited, hanging) or see a skewed clock. It serves both github.com's
// API (paths at the root, reached through the test proxy as
// api.github.com) and a GitHub Enterprise Server's (paths under /api/v3).
package github

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pullkey/pullkey/test/standin"
)

// Failure makes every API request fail one way.
type Failure int

const (
	OK             Failure = iota
	BadCredentials         // 401 Bad credentials
	NotFound               // 404 on everything
	RateLimited            // 403 with X-RateLimit-Remaining: 0 and a reset time
	Hang                   // never answers
)

// Installation is one installation of the App.
type Installation struct {
	ID int64
	// Account is the org or user login; Org says which.
	Account string
	Org     bool
	// Permissions granted to the installation ("packages": "read").
	Permissions map[string]string
	// Repositories, if set, are the only repositories installed on.
	Repositories []string
}

// Mint records one token request that succeeded.
type Mint struct {
	Installation int64
	Permissions  map[string]string
	Repositories []string
	Token        string
	// Issuer and Alg are the verified JWT's iss and algorithm.
	Issuer string
	Alg    string
	// Lifetime is the JWT's exp − iat.
	Lifetime time.Duration
}

// Server is the GitHub API stand-in.
type Server struct {
	appID    int64
	clientID string
	pub      *rsa.PublicKey
	// Skew is how far in the future a JWT's iat may be (GitHub allows
	// little; pullkey backdates iat by 60 s).
	Skew time.Duration
	// RateLimitReset is the X-RateLimit-Reset sent when rate limiting.
	RateLimitReset time.Time

	mu       sync.Mutex
	insts    map[string]Installation // by lower-case account
	failure  Failure
	offset   time.Duration
	mints    []Mint
	closed   chan struct{}
	once     sync.Once
	requests atomic.Int64
	minted   atomic.Int64
}

// NewServer returns a stand-in for the App with appID (and optionally a
// client ID, also accepted as iss) whose JWTs verify with pub.
func NewServer(appID int64, clientID string, pub *rsa.PublicKey) *Server {
	return &Server{
		appID: appID, clientID: clientID, pub: pub,
		Skew:           5 * time.Second,
		RateLimitReset: time.Now().Add(42 * time.Minute).Truncate(time.Second),
		insts:          map[string]Installation{},
		closed:         make(chan struct{}),
	}
}

// AddInstallation installs the App on an account.
func (s *Server) AddInstallation(in Installation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insts[strings.ToLower(in.Account)] = in
}

// SetFailure makes every request fail as f (OK restores normal service).
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = f
}

// SetClockOffset shifts the stand-in's clock when it checks iat and exp:
// -2m plays a node whose clock is two minutes fast.
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

// Mints returns the token requests served so far.
func (s *Server) Mints() []Mint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mint(nil), s.mints...)
}

// MintCount is the number of tokens minted; Counter exposes it for the demo.
func (s *Server) MintCount() int64 { return s.minted.Load() }

// Counter returns the mint counter.
func (s *Server) Counter() *atomic.Int64 { return &s.minted }

// Requests is the number of API requests received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close releases hanging requests.
func (s *Server) Close() { s.once.Do(func() { close(s.closed) }) }

type ghError struct {
	Message string `json:"message"`
	DocURL  string `json:"documentation_url"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ghError{Message: msg, DocURL: "https://docs.github.com/rest"})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	failure, offset := s.failure, s.offset
	s.mu.Unlock()
	switch failure {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case BadCredentials:
		fail(w, http.StatusUnauthorized, "Bad credentials")
		return
	case NotFound:
		fail(w, http.StatusNotFound, "Not Found")
		return
	case RateLimited:
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Used", "5000")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(s.RateLimitReset.Unix(), 10))
		fail(w, http.StatusForbidden, "API rate limit exceeded for app ID "+strconv.FormatInt(s.appID, 10)+".")
		return
	}
	claims, alg, status, msg := s.verify(r, offset)
	if status != 0 {
		fail(w, status, msg)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 3 && (parts[0] == "orgs" || parts[0] == "users") && parts[2] == "installation":
		s.mu.Lock()
		in, ok := s.insts[strings.ToLower(parts[1])]
		s.mu.Unlock()
		if !ok || in.Org != (parts[0] == "orgs") {
			fail(w, http.StatusNotFound, "Not Found")
			return
		}
		typ := "User"
		if in.Org {
			typ = "Organization"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": in.ID, "app_id": s.appID, "target_type": typ,
			"account":     map[string]any{"login": in.Account, "type": typ},
			"permissions": in.Permissions,
		})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "app" && parts[1] == "installations" && parts[3] == "access_tokens":
		s.mint(w, r, parts[2], claims, alg)
	default:
		fail(w, http.StatusNotFound, "Not Found")
	}
}

// verify checks the request's App JWT as GitHub does. status is 0 when it
// is valid.
func (s *Server) verify(r *http.Request, offset time.Duration) (jwt.RegisteredClaims, string, int, string) {
	var claims jwt.RegisteredClaims
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return claims, "", http.StatusUnauthorized, "A JSON web token could not be decoded"
	}
	tok, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil || !tok.Valid {
		return claims, "", http.StatusUnauthorized, "A JSON web token could not be decoded"
	}
	now := time.Now().Add(offset)
	switch {
	case claims.Issuer == "" || (claims.Issuer != strconv.FormatInt(s.appID, 10) && (s.clientID == "" || claims.Issuer != s.clientID)):
		return claims, "", http.StatusUnauthorized, "A JSON web token could not be decoded"
	case claims.IssuedAt == nil || claims.IssuedAt.After(now.Add(s.Skew)):
		return claims, "", http.StatusUnauthorized, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued."
	case claims.ExpiresAt == nil || !claims.ExpiresAt.After(now):
		return claims, "", http.StatusUnauthorized, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires."
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute:
		return claims, "", http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future."
	}
	return claims, tok.Method.Alg(), 0, ""
}

func (s *Server) mint(w http.ResponseWriter, r *http.Request, idText string, claims jwt.RegisteredClaims, alg string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	var in Installation
	found := false
	s.mu.Lock()
	for _, i := range s.insts {
		if i.ID == id {
			in, found = i, true
		}
	}
	s.mu.Unlock()
	if err != nil || !found {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	var body struct {
		Permissions  map[string]string `json:"permissions"`
		Repositories []string          `json:"repositories"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, &body)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	perms := body.Permissions
	if perms == nil {
		perms = in.Permissions
	}
	for k, v := range perms {
		if g := in.Permissions[k]; g == "" || (v == "write" && g != "write") {
			fail(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.")
			return
		}
	}
	for _, repo := range body.Repositories {
		if in.Repositories != nil && !contains(in.Repositories, repo) {
			fail(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
	}
	token, err := newToken()
	if err != nil {
		fail(w, http.StatusInternalServerError, "Server Error")
		return
	}
	s.mu.Lock()
	s.mints = append(s.mints, Mint{
		Installation: id, Permissions: body.Permissions, Repositories: body.Repositories, Token: token,
		Issuer: claims.Issuer, Alg: alg, Lifetime: claims.ExpiresAt.Sub(claims.IssuedAt.Time),
	})
	s.mu.Unlock()
	s.minted.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":                token,
		"expires_at":           time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions":          perms,
		"repository_selection": "all",
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newToken returns an installation token in GitHub's long (2026) format:
// "ghs_" and about 520 characters in all.
func newToken() (string, error) {
	b := make([]byte, 387)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "ghs_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// NewKey generates an App private key and writes it as PEM to
// dir/github-app.pem with mode 0600, as the docs tell users to keep it.
func NewKey(dir string) (*rsa.PrivateKey, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	path, err := WriteKey(dir, "github-app.pem", key, 0o600)
	return key, path, err
}

// WriteKey writes key as a PKCS#1 PEM file (GitHub's format) with mode.
func WriteKey(dir, name string, key *rsa.PrivateKey, mode os.FileMode) (string, error) {
	path := filepath.Join(dir, name)
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, b, mode); err != nil {
		return "", err
	}
	return path, os.Chmod(path, mode)
}

// DemoAppID and DemoOwner are what NewDemo sets up.
const (
	DemoAppID          = 123456
	DemoInstallationID = 4242
	DemoOwner          = "my-org"
)

// NewDemo returns the GitHub stand-in for `make demo`: an App (key written
// to dir) installed on my-org with Packages: read, played as api.github.com
// through the demo's proxy.
func NewDemo(dir string) (*standin.Demo, error) {
	key, path, err := NewKey(dir)
	if err != nil {
		return nil, fmt.Errorf("github stand-in: %w", err)
	}
	s := NewServer(DemoAppID, "", &key.PublicKey)
	s.AddInstallation(Installation{ID: DemoInstallationID, Account: DemoOwner, Org: true, Permissions: map[string]string{"packages": "read", "metadata": "read"}})
	cfg, err := json.Marshal(map[string]any{
		"owners": map[string]any{
			DemoOwner: map[string]any{"app": map[string]any{"appID": DemoAppID, "privateKeyFile": path}},
		},
	})
	if err != nil {
		return nil, errors.Join(errors.New("github stand-in"), err)
	}
	return &standin.Demo{
		Provider: "ghcr",
		Plays:    func(host string) bool { return host == "api.github.com" },
		Handler:  s,
		Config:   cfg,
		Images:   []string{"ghcr.io/" + DemoOwner + "/app"},
		Calls:    s.Counter(),
		Close:    s.Close,
	}, nil
}
