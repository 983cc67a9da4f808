package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"

	"github.com/pullkey/pullkey/providers"
)

// maxRequestSize bounds what is read from stdin.
const maxRequestSize = 1 << 20

const (
	apiVersionV1      = "credentialprovider.kubelet.k8s.io/v1"
	apiVersionV1beta1 = "credentialprovider.kubelet.k8s.io/v1beta1"
	requestKind       = "CredentialProviderRequest"
	responseKind      = "CredentialProviderResponse"
)

// request is a decoded, validated CredentialProviderRequest.
type request struct {
	apiVersion string
	image      providers.Image
}

// decodeRequest reads one CredentialProviderRequest strictly: unknown
// fields, a second document, a wrong apiVersion or kind, or an image that is
// not an image reference are errors.
func decodeRequest(r io.Reader) (request, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxRequestSize+1))
	if err != nil {
		return request{}, fmt.Errorf("read request: %w", err)
	}
	if len(b) > maxRequestSize {
		return request{}, fmt.Errorf("request larger than %d bytes", maxRequestSize)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return request{}, errors.New("empty request on stdin (pullkey is run by kubelet with a CredentialProviderRequest; see --help)")
	}
	var req credentialproviderv1.CredentialProviderRequest
	if err := providers.DecodeStrict(b, &req); err != nil {
		return request{}, fmt.Errorf("decode request: %w", err)
	}
	switch req.APIVersion {
	case apiVersionV1, apiVersionV1beta1:
	case "":
		return request{}, errors.New("request has no apiVersion")
	default:
		return request{}, fmt.Errorf("request apiVersion %q is not supported (want %s)", req.APIVersion, apiVersionV1)
	}
	if req.Kind != requestKind {
		return request{}, fmt.Errorf("request kind %q, want %s", req.Kind, requestKind)
	}
	img, err := providers.ParseImage(req.Image)
	if err != nil {
		return request{}, fmt.Errorf("request image: %w", err)
	}
	return request{apiVersion: req.APIVersion, image: img}, nil
}

// emptyResponse answers an image no provider owns: no credentials, so
// kubelet pulls anonymously. It is keyed per image, because an unowned path
// on a shared host (an unconfigured GitHub owner) must not hide another
// path's credentials.
func emptyResponse(apiVersion string) *credentialproviderv1.CredentialProviderResponse {
	return &credentialproviderv1.CredentialProviderResponse{
		TypeMeta:     metav1.TypeMeta{APIVersion: apiVersion, Kind: responseKind},
		CacheKeyType: credentialproviderv1.ImagePluginCacheKeyType,
		Auth:         map[string]credentialproviderv1.AuthConfig{},
	}
}

// credentialResponse answers with one credential. cacheDuration is the
// credential's remaining lifetime less the refresh margin (never negative),
// or the scope's TTL when the lifetime is unknown.
func credentialResponse(apiVersion string, s providers.Scope, c providers.Credential, now time.Time, margin time.Duration) *credentialproviderv1.CredentialProviderResponse {
	return &credentialproviderv1.CredentialProviderResponse{
		TypeMeta:      metav1.TypeMeta{APIVersion: apiVersion, Kind: responseKind},
		CacheKeyType:  credentialproviderv1.PluginCacheKeyType(s.KeyType),
		CacheDuration: &metav1.Duration{Duration: cacheDuration(s, c, now, margin)},
		Auth: map[string]credentialproviderv1.AuthConfig{
			s.AuthKey: {Username: c.Username, Password: c.Password.Reveal()},
		},
	}
}

func cacheDuration(s providers.Scope, c providers.Credential, now time.Time, margin time.Duration) time.Duration {
	if c.ExpiresAt.IsZero() {
		return max(s.UnknownExpiryTTL, 0).Truncate(time.Second)
	}
	return max(c.ExpiresAt.Sub(now)-margin, 0).Truncate(time.Second)
}

func writeResponse(w io.Writer, resp *credentialproviderv1.CredentialProviderResponse) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}
