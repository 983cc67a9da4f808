// Package ecr serves credentials for Amazon ECR (every AWS partition, FIPS
// and dual-stack registry hosts) and ECR Public from the node's AWS
// identity: the aws-sdk-go-v2 default credential chain (environment,
// profile, web identity, container, IMDSv2 instance role), optionally
// assuming a configured role, then GetAuthorizationToken.
//
// Region, partition and endpoint variant come from the registry host, and
// are handed to the SDK's own endpoint resolver per request: a FIPS host
// reaches the FIPS API, a dual-stack host the dual-stack API, with no
// AWS_USE_FIPS_ENDPOINT on the node. One token serves every repository of a
// registry, so answers are keyed by registry and cached per partition,
// region, account, variant and identity: a node asks once per token
// lifetime, not once per image.
package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pullkey/pullkey/providers"
)

// Name is the provider's name and configuration key.
const Name = "ecr"

// Config is the provider's optional configuration section.
type Config struct {
	// RoleARN, when set, is assumed with STS (from the node's identity)
	// before asking ECR: for registries in another account that trust that
	// role rather than the node role.
	RoleARN string `json:"roleARN,omitempty"`
	// ExternalID is passed to AssumeRole when the role's trust policy
	// requires one.
	ExternalID string `json:"externalID,omitempty"`
	// RoleSessionName names the assumed-role session in CloudTrail
	// (default "pullkey").
	RoleSessionName string `json:"roleSessionName,omitempty"`
}

// unknownExpiryTTL is how long kubelet may keep a token whose response
// carried no expiry (ECR's tokens live 12 hours; this never happens with
// AWS itself).
const unknownExpiryTTL = time.Hour

var (
	roleARNPattern     = providers.LazyRegexp(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	sessionNamePattern = providers.LazyRegexp(`^[\w+=,.@-]{2,64}$`)
	externalIDPattern  = providers.LazyRegexp(`^[\w+=,.@:/-]+$`)
)

// Factory builds the provider. It runs without a configuration section,
// with the node's own identity.
var Factory = providers.Factory{Name: Name, OnByDefault: true, New: newFromConfig}

func newFromConfig(raw json.RawMessage, env providers.Env) (providers.Provider, error) {
	var cfg Config
	if raw != nil {
		if err := providers.DecodeStrict(raw, &cfg); err != nil {
			return nil, err
		}
	}
	if cfg.RoleARN != "" && !roleARNPattern().MatchString(cfg.RoleARN) {
		return nil, fmt.Errorf("roleARN %q: not an IAM role ARN (want arn:aws:iam::123456789012:role/NAME)", cfg.RoleARN)
	}
	if cfg.RoleARN == "" && (cfg.ExternalID != "" || cfg.RoleSessionName != "") {
		return nil, errors.New("externalID and roleSessionName need roleARN")
	}
	// Validate only what the user set: this runs on every invocation, and
	// compiling the pattern costs ~0.4 ms that the default need not pay.
	if cfg.RoleSessionName != "" && !sessionNamePattern().MatchString(cfg.RoleSessionName) {
		return nil, fmt.Errorf("roleSessionName %q: want 2-64 of letters, digits and +=,.@_-", cfg.RoleSessionName)
	}
	if cfg.RoleSessionName == "" {
		cfg.RoleSessionName = "pullkey"
	}
	if cfg.ExternalID != "" && (len(cfg.ExternalID) < 2 || len(cfg.ExternalID) > 1224 || !externalIDPattern().MatchString(cfg.ExternalID)) {
		return nil, errors.New("externalID: want 2-1224 of letters, digits and +=,.@:/_-")
	}
	log := env.Logger
	if log == nil {
		log = discardLogger()
	}
	return &Provider{cfg: cfg, api: &sdkAPI{cfg: cfg, timeout: env.Timeout, log: log}, now: time.Now}, nil
}

// tokenAPI is the one call the provider makes: a registry authorization
// token (base64 of "user:password") and its expiry, from the node's
// identity. The SDK implementation is sdkAPI; unit tests fake it.
type tokenAPI interface {
	authorizationToken(ctx context.Context, r Registry) (token string, expiresAt time.Time, err error)
}

// Provider answers for ECR and ECR Public registry hosts.
type Provider struct {
	cfg Config
	api tokenAPI
	now func() time.Time
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Patterns implements providers.Provider.
func (p *Provider) Patterns() []string { return patterns() }

// Match implements providers.Provider: a whole, canonical ECR host with no
// port. The answer is keyed by registry (one token serves every repository)
// and the disk cache by partition, region, account, endpoint variant and
// the identity the token is minted for.
func (p *Provider) Match(img providers.Image) (providers.Scope, bool) {
	if img.Port != "" {
		return providers.Scope{}, false
	}
	r, ok := ParseHost(img.Host)
	if !ok {
		return providers.Scope{}, false
	}
	account := r.Account
	if r.Public {
		account = "public"
	}
	return providers.Scope{
		AuthKey:          r.Host,
		KeyType:          providers.KeyRegistry,
		CacheKey:         append([]string{r.Partition, r.Region, account, r.Variant(), p.cfg.RoleARN, p.cfg.ExternalID}, ambientIdentity()...),
		UnknownExpiryTTL: unknownExpiryTTL,
	}, true
}

// ambientIdentity is what, in the environment, selects the identity the
// default credential chain finds, so that a token minted for one identity
// is never served to another from the cache. Reading the environment is
// cheap and loads no SDK configuration.
func ambientIdentity() []string {
	var out []string
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN"} {
		out = append(out, k+"="+os.Getenv(k))
	}
	return out
}

// Fetch implements providers.Provider.
func (p *Provider) Fetch(ctx context.Context, img providers.Image) (providers.Credential, error) {
	r, ok := ParseHost(img.Host)
	if !ok || img.Port != "" {
		return providers.Credential{}, fmt.Errorf("%s is not an ECR registry", img.Registry())
	}
	token, expiresAt, err := p.api.authorizationToken(ctx, r)
	if err != nil {
		return providers.Credential{}, err
	}
	user, pass, err := decodeToken(token)
	if err != nil {
		return providers.Credential{}, err
	}
	if !expiresAt.IsZero() && !expiresAt.After(p.now()) {
		return providers.Credential{}, fmt.Errorf("%s returned a token that expired at %s, before now by this node's clock: "+
			"the node's clock is probably wrong; fix time sync (chrony or systemd-timesyncd)", apiName(r), expiresAt.UTC().Format(time.RFC3339))
	}
	return providers.Credential{Username: user, Password: providers.Secret(pass), ExpiresAt: expiresAt}, nil
}

// decodeToken splits an authorization token, base64("AWS:password"). The
// error never includes the token.
func decodeToken(token string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return "", "", errors.New("the authorization token in the response is not base64; is AWS_ENDPOINT_URL_ECR pointing at something other than ECR?")
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" || pass == "" {
		return "", "", errors.New("the authorization token in the response is not base64(user:password); is AWS_ENDPOINT_URL_ECR pointing at something other than ECR?")
	}
	return user, pass, nil
}

// apiName names the API a registry's token comes from, for messages.
func apiName(r Registry) string {
	if r.Public {
		return "ECR Public"
	}
	return "ECR (" + r.Region + ")"
}
