package acr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
)

// maxExchangeBody bounds the exchange's answer: a small JSON object.
const maxExchangeBody = 64 << 10

// Exchanger trades an Entra access token for an ACR refresh token at one
// registry host.
type Exchanger interface {
	Exchange(ctx context.Context, host Host, tenant string, aad providers.Secret) (providers.Secret, error)
}

// ErrNoAcrPull is wrapped when the registry refuses the Entra token.
var ErrNoAcrPull = errors.New("the identity lacks AcrPull on the registry")

// ErrRegistryNotFound is wrapped when the registry host does not resolve.
var ErrRegistryNotFound = errors.New("registry not found (DNS)")

// ErrThrottled is wrapped when an endpoint kept answering 429.
var ErrThrottled = errors.New("throttled (HTTP 429)")

// httpExchanger is the hand-written /oauth2/exchange client. It posts only
// to https://<host>/oauth2/exchange where host is the image's own registry
// (checked by Match), follows no redirect, and never takes an endpoint from
// a WWW-Authenticate challenge.
type httpExchanger struct {
	client  *http.Client
	backoff httpx.Backoff
}

func newHTTPExchanger(callTimeout time.Duration) *httpExchanger {
	return &httpExchanger{client: httpx.NewClient(callTimeout), backoff: httpx.DefaultBackoff}
}

// Exchange implements Exchanger.
func (e *httpExchanger) Exchange(ctx context.Context, host Host, tenant string, aad providers.Secret) (providers.Secret, error) {
	if _, ok := ParseHost(host.Name); !ok {
		// Unreachable through Match; a second line of defence for the token.
		return "", fmt.Errorf("refusing to send a token to %q: not an ACR host", host.Name)
	}
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {host.Name},
		"access_token": {aad.Reveal()},
	}
	if tenant != "" {
		form.Set("tenant", tenant)
	}
	endpoint := (&url.URL{Scheme: "https", Host: host.Name, Path: "/oauth2/exchange"}).String()
	body := form.Encode()
	var token providers.Secret
	err := e.backoff.Do(ctx, func(ctx context.Context) error {
		var err error
		token, err = e.once(ctx, endpoint, body)
		return err
	})
	return token, err
}

func (e *httpExchanger) once(ctx context.Context, endpoint, body string) (providers.Secret, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("token exchange: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if resp != nil && err != nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// The client refused to follow it: the token stays with this host.
		return "", fmt.Errorf("token exchange answered a redirect (HTTP %d), which pullkey never follows: check that the image names the registry's login server", resp.StatusCode)
	}
	if err != nil {
		return "", classifyTransportError(ctx, err)
	}
	defer resp.Body.Close()
	b, readErr := httpx.ReadBody(resp.Body, maxExchangeBody)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("token exchange answered HTTP %d: %w", resp.StatusCode, ErrNoAcrPull)
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", httpx.Retryable{Err: fmt.Errorf("token exchange: %w", ErrThrottled)}
	case resp.StatusCode >= 500:
		return "", httpx.Retryable{Err: fmt.Errorf("token exchange answered HTTP %d", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("token exchange answered HTTP %d", resp.StatusCode)
	case readErr != nil:
		return "", fmt.Errorf("token exchange: reading the answer: %w", readErr)
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return "", errors.New("token exchange: the answer is not JSON")
	}
	if out.RefreshToken == "" {
		return "", errors.New("token exchange: the answer has no refresh_token")
	}
	return providers.Secret(out.RefreshToken), nil
}

// classifyTransportError turns a failed round trip into a short error:
// DNS "no such host" is final, the deadline is final, the rest is retried.
// The url.Error's text is dropped: it would repeat the URL, and is noisy.
func classifyTransportError(ctx context.Context, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Errorf("token exchange: %w", ErrRegistryNotFound)
	case ctx.Err() != nil:
		return fmt.Errorf("token exchange: no answer before the deadline: %w", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return httpx.Retryable{Err: fmt.Errorf("token exchange: %w", err)}
}
