package providers

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// Credential is a registry login handed to kubelet.
type Credential struct {
	Username string
	Password Secret
	// ExpiresAt is when the registry stops accepting the credential. The zero
	// value means the provider does not know (a static token, a docker config
	// entry): such credentials are never written to the disk cache.
	ExpiresAt time.Time
}

// KeyType is kubelet's cacheKeyType: how widely kubelet may reuse an answer.
type KeyType string

const (
	// KeyImage makes kubelet reuse the answer for the same image only.
	KeyImage KeyType = "Image"
	// KeyRegistry makes kubelet reuse the answer for every image on the host.
	KeyRegistry KeyType = "Registry"
)

// Scope says what one credential is good for. A provider returns it from
// Match; the caller uses it to key the disk cache and to shape kubelet's
// answer.
type Scope struct {
	// AuthKey is the key of kubelet's auth map: a host ("x.azurecr.io"), or a
	// host and a path prefix ("ghcr.io/acme") when credentials differ per
	// path. It must only ever name the registry the image is on.
	AuthKey string
	// KeyType is the cacheKeyType kubelet gets with the answer.
	KeyType KeyType
	// CacheKey identifies the credential in the disk cache: registry,
	// account, identity, ... (the provider name is added by the caller). Nil
	// means the credential is not cached on disk (it is cheap and local).
	CacheKey []string
	// UnknownExpiryTTL is how long kubelet may cache a credential whose
	// expiry is unknown. Zero means kubelet must not cache it.
	UnknownExpiryTTL time.Duration
}

// Provider is one credential backend.
type Provider interface {
	// Name is a short, stable identifier ("ecr", "acr", "ghcr").
	Name() string
	// Patterns lists the hosts the provider owns, in kubelet's matchImages
	// glob syntax ("*.azurecr.io"). It is data for deployment manifests and
	// documentation; ownership itself is decided by Match.
	Patterns() []string
	// Match reports whether img is this provider's and, if so, what
	// credential scope serves it. It must not do I/O: an image that is not
	// the provider's never causes a network call.
	Match(img Image) (Scope, bool)
	// Fetch obtains a fresh credential for an image Match accepted.
	Fetch(ctx context.Context, img Image) (Credential, error)
}

// Env is what a provider may use when it is built: a logger, and the
// overall deadline for one invocation so it can size per-call timeouts.
type Env struct {
	Logger  *slog.Logger
	Timeout time.Duration
}

// Factory builds a provider from its section of pullkey's configuration.
type Factory struct {
	// Name is the provider's name and the key of its configuration section.
	Name string
	// OnByDefault providers run without a configuration section (they use
	// the node's ambient identity). The others run only when configured.
	OnByDefault bool
	// New builds the provider. raw is the provider's configuration section
	// as JSON, or nil when there is none; it must be decoded strictly.
	New func(raw json.RawMessage, env Env) (Provider, error)
}
