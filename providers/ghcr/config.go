package ghcr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pullkey/pullkey/providers"
)

// Config is the provider's configuration section. The top level configures
// github.com and its registry ghcr.io; each Enterprise entry configures one
// GitHub Enterprise Server and its registry containers.<host>.
type Config struct {
	// Owners maps a GitHub owner (an organization or a user, matched
	// case-insensitively) to the source of its credentials.
	Owners map[string]Source `json:"owners,omitempty"`
	// DefaultSource serves owners not listed in Owners. Without it, an
	// unlisted owner's images get no credentials (public images still pull).
	DefaultSource *Source `json:"defaultSource,omitempty"`
	// Enterprise lists GitHub Enterprise Servers.
	Enterprise []Enterprise `json:"enterprise,omitempty"`
}

// Enterprise is one GitHub Enterprise Server.
type Enterprise struct {
	// APIURL is the server's REST API, https://<host>/api/v3. Its registry
	// is containers.<host>.
	APIURL        string            `json:"apiURL"`
	Owners        map[string]Source `json:"owners,omitempty"`
	DefaultSource *Source           `json:"defaultSource,omitempty"`
}

// Source says where one owner's credentials come from: exactly one of App
// and Token.
type Source struct {
	App   *AppSource   `json:"app,omitempty"`
	Token *TokenSource `json:"token,omitempty"`
}

// AppSource mints GitHub App installation tokens.
type AppSource struct {
	// AppID or ClientID identifies the App (exactly one; it is the JWT's iss).
	AppID    int64  `json:"appID,omitempty"`
	ClientID string `json:"clientID,omitempty"`
	// PrivateKeyFile is the App's private key (PEM), mode 0600, owner root.
	PrivateKeyFile string `json:"privateKeyFile"`
	// InstallationID skips the installation lookup when set.
	InstallationID int64 `json:"installationID,omitempty"`
	// Repositories, when set, narrows tokens to these repositories (names
	// without the owner).
	Repositories []string `json:"repositories,omitempty"`
}

// TokenSource serves a token kept in a file (a classic personal access
// token with read:packages), re-read at every invocation.
type TokenSource struct {
	TokenFile string `json:"tokenFile"`
	// Username sent with the token (default x-access-token).
	Username string `json:"username,omitempty"`
	// CacheDuration is how long kubelet may keep the answer (default 5m):
	// how long a rotated token takes to reach running kubelets.
	CacheDuration string `json:"cacheDuration,omitempty"`
}

const (
	// GitHubAPI is github.com's REST API.
	GitHubAPI = "https://api.github.com/"
	// GHCR is github.com's container registry.
	GHCR = "ghcr.io"
	// DefaultTokenCacheDuration is the kubelet cache time of a token-file
	// credential.
	DefaultTokenCacheDuration = 5 * time.Minute
	// DefaultTokenUsername is sent with a token-file credential.
	DefaultTokenUsername = "x-access-token"
)

// validOwner reports whether s is a GitHub login: letters, digits and hyphens, not starting
// with a hyphen, at most 39 characters (old accounts may have double
// hyphens, so those are allowed). Matched against the lower-cased owner.
func validOwner(s string) bool {
	if s == "" || len(s) > 39 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validRepo reports whether s is a GitHub repository name.
func validRepo(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// registry is one configured registry with its owners' sources.
type registry struct {
	host   string // ghcr.io or containers.<ghes-host>
	apiURL string // with a trailing slash
	owners map[string]*source
	dflt   *source // may be nil
}

// source is a validated Source.
type source struct {
	app   *AppSource
	token *TokenSource
	ttl   time.Duration // token mode
	// identity names the source in the disk-cache key.
	identity string
}

func parseConfig(raw json.RawMessage) ([]*registry, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errors.New("configuration required: list owners (or a defaultSource) and their app or token sources")
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, err
	}
	var regs []*registry
	gh, err := newRegistry(GHCR, GitHubAPI, cfg.Owners, cfg.DefaultSource, "")
	if err != nil {
		return nil, err
	}
	if gh != nil {
		regs = append(regs, gh)
	}
	seen := map[string]bool{GHCR: true}
	for i, e := range cfg.Enterprise {
		path := fmt.Sprintf("enterprise[%d]", i)
		api, host, err := parseAPIURL(e.APIURL)
		if err != nil {
			return nil, fmt.Errorf("%s.apiURL: %w", path, err)
		}
		reg := "containers." + host
		if seen[reg] {
			return nil, fmt.Errorf("%s.apiURL: registry %s configured twice", path, reg)
		}
		seen[reg] = true
		r, err := newRegistry(reg, api, e.Owners, e.DefaultSource, path+".")
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("%s: no owners and no defaultSource", path)
		}
		regs = append(regs, r)
	}
	if len(regs) == 0 {
		return nil, errors.New("no owners and no defaultSource configured")
	}
	return regs, nil
}

// parseAPIURL checks a GHES API URL and returns it with a trailing slash
// and its host name.
func parseAPIURL(s string) (api, host string, err error) {
	if s == "" {
		return "", "", errors.New("required (https://<host>/api/v3)")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q is not an https URL like https://github.example.com/api/v3", s)
	}
	host = u.Hostname()
	if net.ParseIP(host) != nil || !providers.IsCanonicalHost(host) {
		return "", "", fmt.Errorf("host %q must be a lower-case DNS name (the registry is containers.<host>)", host)
	}
	if host == "github.com" || host == "api.github.com" {
		return "", "", errors.New("github.com is configured at the top level (owners, defaultSource), not under enterprise")
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "/api/v3" {
		return "", "", fmt.Errorf("%q: the path must be /api/v3", s)
	}
	u.Path = "/api/v3/"
	return u.String(), host, nil
}

// newRegistry validates one registry's owners; it returns nil when there
// is nothing configured for it.
func newRegistry(host, api string, owners map[string]Source, dflt *Source, path string) (*registry, error) {
	if len(owners) == 0 && dflt == nil {
		return nil, nil
	}
	r := &registry{host: host, apiURL: api, owners: map[string]*source{}}
	names := make([]string, 0, len(owners))
	for name := range owners {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		lower := strings.ToLower(name)
		field := fmt.Sprintf("%sowners.%s", path, name)
		if !validOwner(lower) {
			return nil, fmt.Errorf("%s: %q is not a GitHub owner name", field, name)
		}
		if _, dup := r.owners[lower]; dup {
			return nil, fmt.Errorf("%s: owner names are case-insensitive and %q is listed twice", field, lower)
		}
		s, err := newSource(owners[name], field, false)
		if err != nil {
			return nil, err
		}
		r.owners[lower] = s
	}
	if dflt != nil {
		s, err := newSource(*dflt, path+"defaultSource", true)
		if err != nil {
			return nil, err
		}
		r.dflt = s
	}
	return r, nil
}

func newSource(s Source, field string, isDefault bool) (*source, error) {
	switch {
	case s.App != nil && s.Token != nil:
		return nil, fmt.Errorf("%s: set either app or token, not both", field)
	case s.App != nil:
		a := s.App
		switch {
		case a.AppID == 0 && a.ClientID == "":
			return nil, fmt.Errorf("%s.app: appID or clientID required", field)
		case a.AppID != 0 && a.ClientID != "":
			return nil, fmt.Errorf("%s.app: set appID or clientID, not both", field)
		case a.AppID < 0:
			return nil, fmt.Errorf("%s.app.appID: must be positive", field)
		case a.PrivateKeyFile == "":
			return nil, fmt.Errorf("%s.app.privateKeyFile: required", field)
		case !filepath.IsAbs(a.PrivateKeyFile):
			return nil, fmt.Errorf("%s.app.privateKeyFile: %q must be an absolute path", field, a.PrivateKeyFile)
		case a.InstallationID < 0:
			return nil, fmt.Errorf("%s.app.installationID: must be positive", field)
		case isDefault && a.InstallationID != 0:
			return nil, fmt.Errorf("%s.app.installationID: not allowed in defaultSource (an installation belongs to one owner; list the owner under owners)", field)
		}
		if a.ClientID != "" && !validRepo(a.ClientID) {
			return nil, fmt.Errorf("%s.app.clientID: %q is not a GitHub App client ID", field, a.ClientID)
		}
		for _, repo := range a.Repositories {
			if !validRepo(repo) || repo == "." || repo == ".." {
				return nil, fmt.Errorf("%s.app.repositories: %q is not a repository name (give names without the owner)", field, repo)
			}
		}
		repos := append([]string(nil), a.Repositories...)
		sort.Strings(repos)
		return &source{app: a, identity: "app\x00" + a.issuer() + "\x00" + strconv.FormatInt(a.InstallationID, 10) + "\x00" + strings.Join(repos, ",")}, nil
	case s.Token != nil:
		t := s.Token
		if t.TokenFile == "" {
			return nil, fmt.Errorf("%s.token.tokenFile: required", field)
		}
		if !filepath.IsAbs(t.TokenFile) {
			return nil, fmt.Errorf("%s.token.tokenFile: %q must be an absolute path", field, t.TokenFile)
		}
		ttl := DefaultTokenCacheDuration
		if t.CacheDuration != "" {
			d, err := time.ParseDuration(t.CacheDuration)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("%s.token.cacheDuration: %q is not a duration like 5m", field, t.CacheDuration)
			}
			ttl = d
		}
		return &source{token: t, ttl: ttl, identity: "token\x00" + t.TokenFile}, nil
	}
	return nil, fmt.Errorf("%s: set app or token", field)
}

// issuer is the JWT's iss: the App ID or the client ID.
func (a *AppSource) issuer() string {
	if a.ClientID != "" {
		return a.ClientID
	}
	return strconv.FormatInt(a.AppID, 10)
}
