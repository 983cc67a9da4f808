// Package dockerconfig serves credentials from a docker config.json kept on
// the node (the "auths" map, with "auth" or "username"/"password"): the
// imagePullSecret pattern moved off pods and onto the node. The file is read
// at every invocation, so editing it needs no restart, and it is refused
// unless it is owned by root (or the user pullkey runs as) and unreadable by
// group and others.
package dockerconfig

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/secretfile"
)

// Name is the provider's name and configuration key.
const Name = "dockerconfig"

// Config is the provider's configuration section.
type Config struct {
	// Path is the docker config.json on the node.
	Path string `json:"path"`
	// CacheDuration is how long kubelet may keep a credential from the file
	// (default 5m): how fast an edit reaches running kubelets.
	CacheDuration string `json:"cacheDuration,omitempty"`
}

// maxFileSize bounds the docker config file.
const maxFileSize = 1 << 20

// DefaultCacheDuration is the kubelet cache time for a file credential.
const DefaultCacheDuration = 5 * time.Minute

// Factory builds the provider; it runs only when configured.
var Factory = providers.Factory{Name: Name, New: newFromConfig}

func newFromConfig(raw json.RawMessage, _ providers.Env) (providers.Provider, error) {
	var cfg Config
	if err := providers.DecodeStrict(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("path: required")
	}
	ttl := DefaultCacheDuration
	if cfg.CacheDuration != "" {
		d, err := time.ParseDuration(cfg.CacheDuration)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("cacheDuration: %q is not a duration", cfg.CacheDuration)
		}
		ttl = d
	}
	auths, err := Load(cfg.Path)
	if err != nil {
		return nil, err
	}
	return &Provider{auths: auths, ttl: ttl}, nil
}

// Provider answers for the registries listed in the file.
type Provider struct {
	auths map[string]providers.Credential
	ttl   time.Duration
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Patterns implements providers.Provider: the registries in the file.
func (p *Provider) Patterns() []string {
	var out []string
	for k := range p.auths {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Match implements providers.Provider: an exact registry (host and port)
// listed in the file.
func (p *Provider) Match(img providers.Image) (providers.Scope, bool) {
	if _, ok := p.auths[img.Registry()]; !ok {
		return providers.Scope{}, false
	}
	return providers.Scope{AuthKey: img.Registry(), KeyType: providers.KeyRegistry, UnknownExpiryTTL: p.ttl}, true
}

// Fetch implements providers.Provider.
func (p *Provider) Fetch(_ context.Context, img providers.Image) (providers.Credential, error) {
	c, ok := p.auths[img.Registry()]
	if !ok {
		return providers.Credential{}, fmt.Errorf("no entry for %s", img.Registry())
	}
	return c, nil
}

// Load reads and checks a docker config file, returning its entries keyed
// by registry (scheme and path stripped, "index.docker.io" as "docker.io").
func Load(path string) (map[string]providers.Credential, error) {
	b, err := secretfile.Read("docker config", path, maxFileSize)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

type file struct {
	Auths map[string]struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auths"`
}

// Parse decodes a docker config.json's auths. Other top-level keys
// (credsStore, HttpHeaders, ...) are ignored; an entry that yields no
// username and password is an error naming the registry, never the secret.
func Parse(b []byte) (map[string]providers.Credential, error) {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("docker config: invalid JSON at byte %d", se.Offset)
		}
		return nil, errors.New("docker config: not a docker config.json (want {\"auths\": {...}})")
	}
	out := map[string]providers.Credential{}
	keyOf := map[string]string{}
	for key, a := range f.Auths {
		reg := normalizeRegistry(key)
		if prev, dup := keyOf[reg]; dup {
			a, b := min(prev, key), max(prev, key)
			return nil, fmt.Errorf("docker config: auths[%q] and auths[%q] are both for registry %s; keep one (pullkey answers per registry)", a, b, reg)
		}
		keyOf[reg] = key
		user, pass := a.Username, a.Password
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("docker config: auths[%q].auth is not base64; write base64 of user:password there (as docker login does), or use username and password", key)
			}
			u, p, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("docker config: auths[%q].auth is not base64(user:password); write base64 of user:password there, or use username and password", key)
			}
			user, pass = u, p
		}
		if user == "" || pass == "" {
			return nil, fmt.Errorf("docker config: auths[%q] has no username and password", key)
		}
		out[reg] = providers.Credential{Username: user, Password: providers.Secret(pass)}
	}
	return out, nil
}

func normalizeRegistry(key string) string {
	if i := strings.Index(key, "://"); i >= 0 {
		key = key[i+3:]
	}
	key, _, _ = strings.Cut(key, "/")
	if key == "index.docker.io" || key == "registry-1.docker.io" {
		key = "docker.io"
	}
	return key
}
