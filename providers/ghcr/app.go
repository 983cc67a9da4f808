package ghcr

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v60/github"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
	"github.com/pullkey/pullkey/providers/internal/secretfile"
)

// TokenUsername is the username of an installation token.
const TokenUsername = "x-access-token"

// JWT lifetime: iat is set back for clock drift, exp is under GitHub's
// 10-minute limit.
const (
	jwtBackdate = 60 * time.Second
	jwtLifetime = 9 * time.Minute
)

// maxAPIBody bounds every GitHub API response body.
const maxAPIBody = 1 << 20

// apiBackoff retries GitHub 5xx answers and connection failures.
var apiBackoff = httpx.Backoff{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}

// apps is the part of go-github's AppsService pullkey uses.
type apps interface {
	FindOrganizationInstallation(ctx context.Context, org string) (*github.Installation, *github.Response, error)
	FindUserInstallation(ctx context.Context, user string) (*github.Installation, *github.Response, error)
	CreateInstallationToken(ctx context.Context, id int64, opts *github.InstallationTokenOptions) (*github.InstallationToken, *github.Response, error)
}

// newGitHubAPI returns go-github's AppsService at apiURL, authenticated
// with jwt, over pullkey's HTTP client (proxy from the environment,
// per-call timeout, no redirects) with every body bounded.
func newGitHubAPI(apiURL, jwt string, callTimeout time.Duration) (apps, error) {
	hc := httpx.NewClient(callTimeout)
	hc.Transport = httpx.BoundBodies(hc.Transport, maxAPIBody) // go-github reads bodies itself
	c := github.NewClient(hc)
	if apiURL != GitHubAPI {
		var err error
		if c, err = c.WithEnterpriseURLs(apiURL, apiURL); err != nil {
			return nil, fmt.Errorf("apiURL: %w", err)
		}
	}
	c = c.WithAuthToken(jwt)
	c.UserAgent = "pullkey"
	return c.Apps, nil
}

// fetchApp mints an installation token for owner.
func (p *Provider) fetchApp(ctx context.Context, reg *registry, owner string, a *AppSource) (providers.Credential, error) {
	key, err := loadKey(a.PrivateKeyFile)
	if err != nil {
		return providers.Credential{}, err
	}
	signed, err := signJWT(key, a.issuer(), p.now())
	if err != nil {
		return providers.Credential{}, fmt.Errorf("sign the App JWT: %w", err)
	}
	api, err := p.newAPI(reg.apiURL, signed, p.callTimeout)
	if err != nil {
		return providers.Credential{}, err
	}
	host := apiHost(reg.apiURL)
	id := a.InstallationID
	log := p.log.With("api", host, "owner", owner, "app", a.issuer())
	if id == 0 {
		log.Debug("looking up the GitHub App installation")
		if id, err = findInstallation(ctx, api, call{host: host, op: "lookup", owner: owner, app: a, timeout: p.timeout}); err != nil {
			return providers.Credential{}, err
		}
	}
	log.Debug("minting an installation token", "installation", id, "repositories", len(a.Repositories))
	opts := &github.InstallationTokenOptions{
		Permissions:  &github.InstallationPermissions{Packages: github.String("read")},
		Repositories: a.Repositories,
	}
	var tok *github.InstallationToken
	err = apiBackoff.Do(ctx, func(ctx context.Context) error {
		var err error
		tok, _, err = api.CreateInstallationToken(ctx, id, opts)
		return retryable(err)
	})
	if err != nil {
		return providers.Credential{}, explain(err, call{host: host, op: "token", owner: owner, app: a, installation: id, timeout: p.timeout})
	}
	if tok.GetToken() == "" || tok.GetExpiresAt().IsZero() {
		return providers.Credential{}, fmt.Errorf("GitHub API at %s answered the token request without a token or expires_at; check that apiURL is a GitHub API", host)
	}
	return providers.Credential{
		Username:  TokenUsername,
		Password:  providers.Secret(tok.GetToken()),
		ExpiresAt: tok.GetExpiresAt().Time,
	}, nil
}

// findInstallation looks up the App's installation on owner: first as an
// organization (where private packages usually live), then as a user.
func findInstallation(ctx context.Context, api apps, c call) (int64, error) {
	owner, a := c.owner, c.app
	lookups := []struct {
		path string
		find func(context.Context, string) (*github.Installation, *github.Response, error)
	}{
		{"/orgs/" + owner + "/installation", api.FindOrganizationInstallation},
		{"/users/" + owner + "/installation", api.FindUserInstallation},
	}
	for _, l := range lookups {
		var inst *github.Installation
		err := apiBackoff.Do(ctx, func(ctx context.Context) error {
			var err error
			inst, _, err = l.find(ctx, owner)
			return retryable(err)
		})
		if statusOf(err) == http.StatusNotFound {
			continue
		}
		if err != nil {
			return 0, explain(err, c)
		}
		if inst.GetID() <= 0 {
			return 0, fmt.Errorf("GitHub API at %s answered %s without an installation id", c.host, l.path)
		}
		return inst.GetID(), nil
	}
	return 0, fmt.Errorf("GitHub App %s is not installed on %s (installation lookup answered 404); install the App on %s with Packages: read, or set installationID", a.issuer(), owner, owner)
}

// loadKey reads and parses the App's private key.
func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := secretfile.Read("private key file", path, maxSecretFile)
	if err != nil {
		return nil, err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("private key file %s is not a PEM RSA private key; generate a private key on the GitHub App's settings page and save the .pem file there", path)
	}
	return key, nil
}

// signJWT returns the App's RS256 JWT.
func signJWT(key *rsa.PrivateKey, issuer string, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLifetime)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
}

// call describes a GitHub API call for error messages.
type call struct {
	host         string
	op           string // "lookup" or "token"
	owner        string
	app          *AppSource
	installation int64
	timeout      time.Duration // the whole invocation's
}

// apiError is an error GitHub answered with, reduced to what pullkey acts
// on. It never holds a body.
type apiError struct {
	status int
	header http.Header
	// message is GitHub's "message" field, used only to recognise clock
	// skew; it is never printed.
	message string
}

func (e *apiError) Error() string { return "GitHub answered " + strconv.Itoa(e.status) }

// responseError extracts the status, headers and message of a go-github
// error, or nil when err is not an answer from GitHub.
func responseError(err error) *apiError {
	var (
		er  *github.ErrorResponse
		rl  *github.RateLimitError
		ab  *github.AbuseRateLimitError
		tfa *github.TwoFactorAuthError
	)
	var resp *http.Response
	var msg string
	switch {
	case errors.As(err, &rl):
		resp, msg = rl.Response, rl.Message
	case errors.As(err, &ab):
		resp, msg = ab.Response, ab.Message
	case errors.As(err, &tfa):
		resp, msg = tfa.Response, tfa.Message
	case errors.As(err, &er):
		resp, msg = er.Response, er.Message
	}
	if resp == nil {
		return nil
	}
	return &apiError{status: resp.StatusCode, header: resp.Header, message: msg}
}

func statusOf(err error) int {
	if e := responseError(err); e != nil {
		return e.status
	}
	return 0
}

// retryable marks 5xx answers and transport failures (but not the end of
// the deadline) for another attempt.
func retryable(err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	if e := responseError(err); e != nil {
		if e.status >= 500 {
			return httpx.Retryable{Err: err}
		}
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && !ue.Timeout() && !errors.Is(err, httpx.ErrBodyTooLarge) {
		return httpx.Retryable{Err: err}
	}
	return err
}

// explain turns a GitHub API failure into one line that names the cause
// and the fix. It never includes a response body.
func explain(err error, c call) error {
	what := "the installation lookup for " + c.owner
	if c.op == "token" {
		what = fmt.Sprintf("the token request (installation %d)", c.installation)
	}
	e := responseError(err)
	if e == nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			return fmt.Errorf("GitHub API at %s did not answer %s within pullkey's %s timeout; check the node's network and proxy settings: %w", c.host, what, c.timeout, context.DeadlineExceeded)
		case errors.Is(err, httpx.ErrBodyTooLarge):
			return fmt.Errorf("GitHub API at %s answered %s with an oversized body; check that apiURL is a GitHub API: %w", c.host, what, httpx.ErrBodyTooLarge)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return fmt.Errorf("GitHub API at %s did not answer %s in time; check the node's network and proxy settings", c.host, what)
			}
			return fmt.Errorf("cannot reach the GitHub API at %s for %s; check the node's network, DNS and proxy settings: %v", c.host, what, ue.Err)
		}
		return fmt.Errorf("GitHub API at %s, %s: %w", c.host, what, err)
	}
	switch {
	case isRateLimited(e):
		return fmt.Errorf("GitHub API at %s is rate limiting the App (%d on %s); %s, then pods retry on their own; setting installationID saves one call per token", c.host, e.status, what, resetText(e.header))
	case e.status == http.StatusUnauthorized && isClockSkew(e.message):
		return fmt.Errorf("GitHub API at %s rejected the App JWT's time claims (iat/exp) on %s: this node's clock is probably wrong; fix time synchronisation (NTP, see timedatectl status)", c.host, what)
	case e.status == http.StatusUnauthorized:
		return fmt.Errorf("GitHub API at %s rejected the App's credentials (401 on %s); check that %s is the App's ID and that the private key file holds a current key of that App", c.host, what, c.app.idText())
	case c.op == "token" && e.status == http.StatusNotFound:
		return fmt.Errorf("GitHub API at %s: installation %d of App %s not found (404); check installationID, or install the App on %s", c.host, c.installation, c.app.issuer(), c.owner)
	case c.op == "token" && (e.status == http.StatusUnprocessableEntity || e.status == http.StatusForbidden):
		return fmt.Errorf("GitHub API at %s refused a packages:read token for %s (%d); give the App the Packages: read permission, accept it on the installation, and check that every listed repository is in the installation", c.host, c.owner, e.status)
	case e.status >= 500:
		return fmt.Errorf("GitHub API at %s failed %s (%d); GitHub may be down, pods retry on their own", c.host, what, e.status)
	}
	return fmt.Errorf("GitHub API at %s answered %d to %s; check the App's configuration for %s", c.host, e.status, what, c.owner)
}

func (a *AppSource) idText() string {
	if a.ClientID != "" {
		return "clientID " + a.ClientID
	}
	return "appID " + strconv.FormatInt(a.AppID, 10)
}

// isRateLimited recognises GitHub's primary (403/429 with no requests
// remaining) and secondary (429, or Retry-After) rate limits.
func isRateLimited(e *apiError) bool {
	if e.status != http.StatusForbidden && e.status != http.StatusTooManyRequests {
		return false
	}
	return e.status == http.StatusTooManyRequests || e.header.Get("X-RateLimit-Remaining") == "0" || e.header.Get("Retry-After") != "" ||
		strings.Contains(strings.ToLower(e.message), "rate limit")
}

// resetText says when a rate limit ends, from X-RateLimit-Reset (Unix
// seconds) or Retry-After (seconds).
func resetText(h http.Header) string {
	if s := h.Get("X-RateLimit-Reset"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil && sec > 0 {
			t := time.Unix(sec, 0).UTC()
			return fmt.Sprintf("it resets at %s (in %s); wait until then", t.Format(time.RFC3339), max(time.Until(t), 0).Round(time.Second))
		}
	}
	if s := h.Get("Retry-After"); s != "" {
		if sec, err := strconv.Atoi(s); err == nil && sec >= 0 {
			return fmt.Sprintf("GitHub asks to retry after %ds; wait that long", sec)
		}
	}
	return "wait a few minutes"
}

// isClockSkew recognises GitHub's 401 messages about the JWT's iat and
// exp claims ("'Issued at' claim ('iat') must be ...", "'Expiration time'
// claim ('exp') is too far in the future").
func isClockSkew(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "'iat'") || strings.Contains(m, "'exp'") || strings.Contains(m, "issued at") || strings.Contains(m, "expiration time")
}

func apiHost(apiURL string) string {
	if u, err := url.Parse(apiURL); err == nil {
		return u.Host
	}
	return apiURL
}
