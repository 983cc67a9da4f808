// Package ghcr serves credentials for GitHub's container registry, ghcr.io,
// and for the registries of GitHub Enterprise Servers (containers.<host>).
//
// Credentials are per owner, the image path's first segment (an
// organization or a user): the configuration maps owners to a source, with
// an optional default source for the others, and an owner without a source
// gets no credentials (public images still pull). A source is either a
// GitHub App, whose installation token narrowed to packages:read is minted
// through go-github, or a token file (a classic personal access token) that
// is re-read at every invocation so that rotating it needs no restart.
//
// Answers carry the auth key <registry-host>/<owner>, spelled as in the
// image, with cacheKeyType Image: kubelet then reuses an answer only for the
// image it was given for, so one owner's credential never answers for
// another, even though kubelet's path matching is a plain string prefix
// (ghcr.io/acme also prefixes ghcr.io/acmecorp/app).
package ghcr

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// Name is the provider's name and configuration key.
const Name = "ghcr"

// Factory builds the provider; it runs only when configured.
var Factory = providers.Factory{Name: Name, OnByDefault: false, New: New}

// Provider is the GHCR provider.
type Provider struct {
	regs map[string]*registry // by registry host
	// callTimeout bounds one GitHub API round trip.
	callTimeout time.Duration
	// timeout is the whole invocation's, for messages.
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	// newAPI builds the GitHub API client for one Fetch.
	newAPI func(apiURL, jwt string, callTimeout time.Duration) (apps, error)
}

// New builds the provider from its configuration section. It only
// validates the configuration: files are read and GitHub is called in Fetch.
func New(raw json.RawMessage, env providers.Env) (providers.Provider, error) {
	regs, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	p := &Provider{regs: map[string]*registry{}, callTimeout: httpx.DefaultCallTimeout, now: time.Now, newAPI: newGitHubAPI}
	p.timeout = env.Timeout
	p.log = env.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if env.Timeout > 0 {
		p.callTimeout = min(p.callTimeout, env.Timeout)
	}
	for _, r := range regs {
		p.regs[r.host] = r
	}
	return p, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Patterns implements providers.Provider: ghcr.io (when configured) and
// containers.<host> for each configured GitHub Enterprise Server.
func (p *Provider) Patterns() []string {
	out := make([]string, 0, len(p.regs))
	for h := range p.regs {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Match implements providers.Provider. The host must be exactly a
// configured registry host (canonical, no port); the owner is the path's
// first segment and must be a GitHub login followed by a repository name.
// Owners are compared lower-cased (GitHub logins are case-insensitive),
// while the auth key keeps the image's own spelling, because kubelet
// matches auth keys case-sensitively.
func (p *Provider) Match(img providers.Image) (providers.Scope, bool) {
	reg, owner, src, ok := p.lookup(img)
	if !ok {
		return providers.Scope{}, false
	}
	scope := providers.Scope{AuthKey: img.Host + "/" + img.Owner(), KeyType: providers.KeyImage}
	if src.token != nil {
		// No known expiry: never on disk, and kubelet keeps it only for the
		// configured time, so a rotated file is used soon.
		scope.UnknownExpiryTTL = src.ttl
	} else {
		scope.CacheKey = []string{reg.host, owner, src.identity}
	}
	return scope, true
}

// lookup finds the registry and source for img; owner is lower-cased.
func (p *Provider) lookup(img providers.Image) (*registry, string, *source, bool) {
	if img.Port != "" || !providers.IsCanonicalHost(img.Host) {
		return nil, "", nil, false
	}
	reg, ok := p.regs[img.Host]
	if !ok {
		return nil, "", nil, false
	}
	first, rest, hasRepo := strings.Cut(img.Path, "/")
	owner := strings.ToLower(first)
	if !hasRepo || rest == "" || !validOwner(owner) {
		return nil, "", nil, false
	}
	src := reg.owners[owner]
	if src == nil {
		src = reg.dflt
	}
	if src == nil {
		return nil, "", nil, false
	}
	return reg, owner, src, true
}

// Fetch implements providers.Provider.
func (p *Provider) Fetch(ctx context.Context, img providers.Image) (providers.Credential, error) {
	reg, owner, src, ok := p.lookup(img)
	if !ok {
		return providers.Credential{}, fmt.Errorf("no source configured for %s", img.Repository())
	}
	if src.token != nil {
		return readToken(src.token)
	}
	return p.fetchApp(ctx, reg, owner, src.app)
}
