// Package acr serves Azure Container Registry credentials from the node's
// Entra identity, with no secret on the node: a managed identity
// (system-assigned, or user-assigned by client ID or resource ID) gets an
// Entra token for https://containerregistry.azure.net/.default through
// azidentity; pullkey posts it to https://<registry>/oauth2/exchange on the
// image's own registry host and hands kubelet the ACR refresh token it gets
// back, with the zero-GUID username. The refresh token's exp claim sets the
// cache lifetime. A service principal (secret or certificate in a root-only
// file) is an optional, weaker alternative for clusters without managed
// identity.
//
// The provider owns <name>.azurecr.io, .azurecr.cn (Azure China),
// .azurecr.us (Azure Government) and the geo-replica regional endpoints
// <name>.<region>.geo.azurecr.io, whole host only; anything else gets no
// credential and causes no network call.
package acr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// Name is the provider's name and configuration key.
const Name = "acr"

// Username is the user name ACR expects with a refresh token.
const Username = "00000000-0000-0000-0000-000000000000"

// Config is the provider's (optional) configuration section.
type Config struct {
	// Identity selects a user-assigned managed identity. Without it the
	// node's default identity is used (system-assigned, or the only
	// user-assigned one).
	Identity *IdentityConfig `json:"identity,omitempty"`
	// TenantID is the Entra tenant: required with servicePrincipal, and
	// sent to the exchange when set.
	TenantID string `json:"tenantID,omitempty"`
	// ServicePrincipal replaces managed identity with an app registration's
	// secret or certificate: the weaker option, for clusters without one.
	ServicePrincipal *ServicePrincipalConfig `json:"servicePrincipal,omitempty"`
	// Audience overrides the Entra audience of the token pullkey exchanges
	// (default https://containerregistry.azure.net). ACR also accepts the
	// cloud's Resource Manager audience (https://management.chinacloudapi.cn,
	// https://management.usgovcloudapi.net), which Microsoft's SDKs document
	// for sovereign clouds.
	Audience string `json:"audience,omitempty"`
}

// IdentityConfig names one user-assigned managed identity.
type IdentityConfig struct {
	ClientID   string `json:"clientID,omitempty"`
	ResourceID string `json:"resourceID,omitempty"`
}

// ServicePrincipalConfig is the service-principal mode's section.
type ServicePrincipalConfig struct {
	ClientID        string `json:"clientID"`
	SecretFile      string `json:"secretFile,omitempty"`
	CertificateFile string `json:"certificateFile,omitempty"`
}

// ErrExpired is wrapped when the registry's refresh token is already past
// its exp on this node's clock.
var ErrExpired = errors.New("the refresh token is already expired")

// Factory builds the provider; it runs by default, with the node's
// managed identity.
var Factory = providers.Factory{Name: Name, OnByDefault: true, New: New}

var (
	guidRE       = lazyRegexp(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	resourceIDRE = lazyRegexp(`(?i)^/subscriptions/[0-9a-f-]{36}/resourcegroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$`)
)

// Settings is the provider's configuration, decoded and checked.
type Settings struct {
	Identity Identity
	// Scope is the Entra scope asked for (Scope unless audience is set).
	Scope string
}

// ParseConfig decodes and validates the section strictly; nil or empty raw
// is the default (the node's managed identity).
func ParseConfig(raw json.RawMessage) (Settings, error) {
	id, cfg, err := parseIdentity(raw)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{Identity: id, Scope: Scope}
	if cfg.Audience != "" {
		u, err := url.Parse(cfg.Audience)
		if err != nil || u.Scheme != "https" || !providers.IsCanonicalHost(u.Host) || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Settings{}, fmt.Errorf("audience %q: want https://<host>, e.g. https://management.chinacloudapi.cn", cfg.Audience)
		}
		s.Scope = "https://" + u.Host + "/.default"
	}
	return s, nil
}

func parseIdentity(raw json.RawMessage) (Identity, Config, error) {
	var cfg Config
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return Identity{}, cfg, err
		}
	}
	id := Identity{TenantID: cfg.TenantID}
	if cfg.TenantID != "" && !guidRE().MatchString(cfg.TenantID) && !providers.IsCanonicalHost(cfg.TenantID) {
		return Identity{}, cfg, fmt.Errorf("tenantID %q: want a GUID or a domain (contoso.onmicrosoft.com)", cfg.TenantID)
	}
	if i := cfg.Identity; i != nil {
		switch {
		case i.ClientID != "" && i.ResourceID != "":
			return Identity{}, cfg, errors.New("identity: set clientID or resourceID, not both")
		case i.ClientID != "" && !guidRE().MatchString(i.ClientID):
			return Identity{}, cfg, fmt.Errorf("identity.clientID %q: want a GUID", i.ClientID)
		case i.ResourceID != "" && !resourceIDRE().MatchString(i.ResourceID):
			return Identity{}, cfg, fmt.Errorf("identity.resourceID %q: want /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>", i.ResourceID)
		case i.ClientID == "" && i.ResourceID == "":
			return Identity{}, cfg, errors.New("identity: set clientID or resourceID (or drop the section for the node's default identity)")
		}
		id.ClientID, id.ResourceID = i.ClientID, i.ResourceID
	}
	if sp := cfg.ServicePrincipal; sp != nil {
		switch {
		case cfg.Identity != nil:
			return Identity{}, cfg, errors.New("servicePrincipal: set identity or servicePrincipal, not both")
		case cfg.TenantID == "":
			return Identity{}, cfg, errors.New("servicePrincipal: tenantID is required")
		case !guidRE().MatchString(sp.ClientID):
			return Identity{}, cfg, fmt.Errorf("servicePrincipal.clientID %q: want a GUID", sp.ClientID)
		case (sp.SecretFile == "") == (sp.CertificateFile == ""):
			return Identity{}, cfg, errors.New("servicePrincipal: set exactly one of secretFile and certificateFile")
		}
		id.SP = &ServicePrincipal{ClientID: sp.ClientID, SecretFile: sp.SecretFile, CertificateFile: sp.CertificateFile}
	}
	return id, cfg, nil
}

// New builds the provider. It is cheap: no SDK configuration is loaded and
// no file is read until Fetch.
func New(raw json.RawMessage, env providers.Env) (providers.Provider, error) {
	set, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	id := set.Identity
	callTimeout := callTimeoutFor(env.Timeout)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		id:    id,
		scope: set.Scope,
		log:   log,
		newSource: func(c Cloud, rec *recorder) (TokenSource, error) {
			return newTokenSource(id, c, callTimeout, rec)
		},
		exchange: newHTTPExchanger(callTimeout),
		now:      time.Now,
	}, nil
}

// callTimeoutFor sizes one HTTP try: half the invocation's deadline, so a
// hanging endpoint leaves time for one more try, within [1s, 10s].
func callTimeoutFor(total time.Duration) time.Duration {
	if total <= 0 {
		return httpx.DefaultCallTimeout
	}
	return min(max(total/2, time.Second), httpx.DefaultCallTimeout)
}

// Provider is the ACR provider.
type Provider struct {
	id        Identity
	scope     string
	log       *slog.Logger
	newSource func(Cloud, *recorder) (TokenSource, error)
	exchange  Exchanger
	now       func() time.Time
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Patterns implements providers.Provider.
func (p *Provider) Patterns() []string {
	return []string{"*.azurecr.io", "*.azurecr.cn", "*.azurecr.us", "*.*.geo.azurecr.io"}
}

// Match implements providers.Provider: an ACR login server without a port.
// One refresh token serves every repository the identity may read on the
// registry, so kubelet may reuse it for the whole host.
func (p *Provider) Match(img providers.Image) (providers.Scope, bool) {
	if img.Port != "" {
		return providers.Scope{}, false
	}
	h, ok := ParseHost(img.Host)
	if !ok {
		return providers.Scope{}, false
	}
	return providers.Scope{
		AuthKey:  h.Name,
		KeyType:  providers.KeyRegistry,
		CacheKey: []string{h.Name, p.id.Descriptor()},
	}, true
}

// Fetch implements providers.Provider.
func (p *Provider) Fetch(ctx context.Context, img providers.Image) (providers.Credential, error) {
	h, ok := ParseHost(img.Host)
	if !ok || img.Port != "" {
		return providers.Credential{}, fmt.Errorf("%s is not an ACR registry", img.Registry())
	}
	rec := &recorder{}
	src, err := p.newSource(h.Cloud, rec)
	if err != nil {
		return providers.Credential{}, fmt.Errorf("%s: %w", p.id.Descriptor(), err)
	}
	start := time.Now()
	at, err := src.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{p.scope}})
	if err != nil {
		return providers.Credential{}, explainTokenError(ctx, p.id, rec, err)
	}
	p.log.Debug("got an Entra token", "identity", p.id.Descriptor(), "cloud", h.Cloud.Name, "took", time.Since(start).Round(time.Millisecond))
	refresh, err := p.exchange.Exchange(ctx, h, p.id.TenantID, providers.Secret(at.Token))
	if err != nil {
		return providers.Credential{}, explainExchangeError(h, p.id, err)
	}
	exp, err := TokenExpiry(refresh.Reveal())
	if err != nil {
		return providers.Credential{}, fmt.Errorf("token exchange on %s: %w", h.Name, err)
	}
	if now := p.now(); !exp.After(now) {
		return providers.Credential{}, fmt.Errorf("token exchange on %s: %w: it expired at %s, before this node's time %s: check the node's clock (NTP)",
			h.Name, ErrExpired, exp.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	p.log.Debug("exchanged for an ACR refresh token", "host", h.Name, "expiresAt", exp.Format(time.RFC3339))
	return providers.Credential{Username: Username, Password: refresh, ExpiresAt: exp}, nil
}

// explainExchangeError adds what to do to an exchange failure.
func explainExchangeError(h Host, id Identity, err error) error {
	switch {
	case errors.Is(err, ErrNoAcrPull):
		return fmt.Errorf("%w (%s): grant it: az aks update --attach-acr %s, or az role assignment create --assignee <identity's principal or client ID> --role AcrPull --scope <registry resource ID>", err, id.Descriptor(), h.Registry)
	case errors.Is(err, ErrRegistryNotFound):
		return fmt.Errorf("%w: check the image's registry name; az acr show --name %s", err, h.Registry)
	case errors.Is(err, ErrThrottled):
		return fmt.Errorf("%w, retried until out of tries or time: retry later", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: check that the node reaches %s on port 443 (firewall, private endpoint DNS), or raise the timeout", err, h.Name)
	}
	return fmt.Errorf("%w: check that %s is reachable and is an Azure Container Registry", err, h.Name)
}

// lazyRegexp compiles a pattern on first use, so that start-up (paid by
// every invocation, cache hits included) does not pay for it.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
