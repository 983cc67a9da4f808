package acr

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/pullkey/pullkey/providers"
)

const (
	testClientID   = "11111111-2222-3333-4444-555555555555"
	testResourceID = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet"
	testTenant     = "99999999-8888-7777-6666-555555555555"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, raw string
		want      string // descriptor
		wantErr   string
	}{
		{"absent", ``, "managed-identity:system-assigned", ""},
		{"null", `null`, "managed-identity:system-assigned", ""},
		{"empty", `{}`, "managed-identity:system-assigned", ""},
		{"client ID", `{"identity":{"clientID":"` + testClientID + `"}}`, "managed-identity:client-id:" + testClientID, ""},
		{"resource ID", `{"identity":{"resourceID":"` + testResourceID + `"}}`, "managed-identity:resource-id:" + testResourceID, ""},
		{"tenant", `{"tenantID":"` + testTenant + `"}`, "managed-identity:system-assigned:tenant:" + testTenant, ""},
		{"tenant domain", `{"tenantID":"contoso.onmicrosoft.com"}`, "managed-identity:system-assigned:tenant:contoso.onmicrosoft.com", ""},
		{"service principal", `{"tenantID":"` + testTenant + `","servicePrincipal":{"clientID":"` + testClientID + `","secretFile":"/etc/pullkey/acr"}}`, "service-principal:" + testTenant + ":" + testClientID, ""},
		{"unknown key", `{"identty":{}}`, "", "unknown field"},
		{"audience", `{"audience":"https://management.chinacloudapi.cn/"}`, "managed-identity:system-assigned", ""},
		{"audience with path", `{"audience":"https://management.chinacloudapi.cn/x"}`, "", "want https://<host>"},
		{"audience http", `{"audience":"http://management.chinacloudapi.cn"}`, "", "want https://<host>"},
		{"audience with port", `{"audience":"https://management.chinacloudapi.cn:444"}`, "", "want https://<host>"},
		{"both IDs", `{"identity":{"clientID":"` + testClientID + `","resourceID":"` + testResourceID + `"}}`, "", "not both"},
		{"empty identity", `{"identity":{}}`, "", "set clientID or resourceID"},
		{"bad client ID", `{"identity":{"clientID":"kubelet"}}`, "", "want a GUID"},
		{"bad resource ID", `{"identity":{"resourceID":"kubelet"}}`, "", "userAssignedIdentities"},
		{"bad tenant", `{"tenantID":"not a tenant"}`, "", "tenantID"},
		{"sp without tenant", `{"servicePrincipal":{"clientID":"` + testClientID + `","secretFile":"/x"}}`, "", "tenantID is required"},
		{"sp with identity", `{"tenantID":"` + testTenant + `","identity":{"clientID":"` + testClientID + `"},"servicePrincipal":{"clientID":"` + testClientID + `","secretFile":"/x"}}`, "", "not both"},
		{"sp both files", `{"tenantID":"` + testTenant + `","servicePrincipal":{"clientID":"` + testClientID + `","secretFile":"/x","certificateFile":"/y"}}`, "", "exactly one"},
		{"sp no file", `{"tenantID":"` + testTenant + `","servicePrincipal":{"clientID":"` + testClientID + `"}}`, "", "exactly one"},
		{"sp unknown key", `{"tenantID":"` + testTenant + `","servicePrincipal":{"clientID":"` + testClientID + `","secret":"s3cret"}}`, "", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw json.RawMessage
			if tt.raw != "" {
				raw = json.RawMessage(tt.raw)
			}
			set, err := ParseConfig(raw)
			id := set.Identity
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || id.Descriptor() != tt.want {
				t.Fatalf("ParseConfig = %q, %v; want %q", id.Descriptor(), err, tt.want)
			}
		})
	}
}

// TestNewIsCheap: building the provider reads no file and no environment,
// so a broken identity setup fails only for ACR images, in Fetch.
func TestNewIsCheap(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", "::not a url")
	raw := json.RawMessage(`{"tenantID":"` + testTenant + `","servicePrincipal":{"clientID":"` + testClientID + `","secretFile":"/does/not/exist"}}`)
	if _, err := New(raw, providers.Env{Timeout: time.Second}); err != nil {
		t.Fatalf("New: %v", err)
	}
}

func TestMatch(t *testing.T) {
	p, err := New(nil, providers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"myregistry.azurecr.io/web", "myregistry.azurecr.io/team/app:1", "myregistry.eastus.geo.azurecr.io/web@sha256:" + strings.Repeat("a", 64)} {
		img, err := providers.ParseImage(ref)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := p.Match(img)
		if !ok || s.AuthKey != img.Host || s.KeyType != providers.KeyRegistry || len(s.CacheKey) != 2 || s.CacheKey[0] != img.Host {
			t.Errorf("Match(%s) = %+v, %v", ref, s, ok)
		}
		if _, _, ok, err := (providers.Set{p}).Select(img); !ok || err != nil {
			t.Errorf("Select(%s) = %v, %v: the scope fails the safety check", ref, ok, err)
		}
	}
	for _, ref := range []string{"myregistry.azurecr.io:443/web", "evil.io/myregistry.azurecr.io", "myregistry.azurecr.io.evil.io/web", "nginx"} {
		img, _ := providers.ParseImage(ref)
		if s, ok := p.Match(img); ok {
			t.Errorf("Match(%s) = %+v, want not owned", ref, s)
		}
	}
}

// fakeSource and fakeExchanger are the SDK and HTTP calls, faked.
type fakeSource struct {
	getToken func(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error)
}

func (f fakeSource) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f.getToken(ctx, opts)
}

type fakeExchanger struct {
	exchange func(ctx context.Context, host Host, tenant string, aad providers.Secret) (providers.Secret, error)
}

func (f fakeExchanger) Exchange(ctx context.Context, host Host, tenant string, aad providers.Secret) (providers.Secret, error) {
	return f.exchange(ctx, host, tenant, aad)
}

func TestFetch(t *testing.T) {
	exp := time.Now().Add(3 * time.Hour).Truncate(time.Second).UTC()
	refresh := jwtWith(`{"exp":` + jsonInt(exp.Unix()) + `}`)
	tests := []struct {
		name      string
		image     string
		tokenErr  error
		status    int
		refresh   string
		exErr     error
		wantErr   error
		wantCloud string
	}{
		{name: "ok", image: "myregistry.azurecr.io/web", refresh: refresh, wantCloud: "AzurePublic"},
		{name: "china", image: "myregistry.azurecr.cn/web", refresh: refresh, wantCloud: "AzureChina"},
		{name: "gov", image: "myregistry.azurecr.us/web", refresh: refresh, wantCloud: "AzureGovernment"},
		{name: "throttled", image: "myregistry.azurecr.io/web", tokenErr: errors.New("429"), status: 429, wantErr: ErrThrottled},
		{name: "identity 403", image: "myregistry.azurecr.io/web", tokenErr: errors.New("403"), status: 403, wantErr: ErrIdentityRejected},
		{name: "no AcrPull", image: "myregistry.azurecr.io/web", exErr: ErrNoAcrPull, wantErr: ErrNoAcrPull},
		{name: "no registry", image: "myregistry.azurecr.io/web", exErr: ErrRegistryNotFound, wantErr: ErrRegistryNotFound},
		{name: "refresh without exp", image: "myregistry.azurecr.io/web", refresh: jwtWith(`{}`), wantErr: ErrBadToken},
		{name: "refresh already expired", image: "myregistry.azurecr.io/web", refresh: jwtWith(`{"exp":1700000000}`), wantErr: ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotCloud, gotService string
			var gotScopes []string
			p := &Provider{
				id:    Identity{TenantID: testTenant},
				scope: Scope,
				log:   discardLogger(),
				now:   time.Now,
				newSource: func(c Cloud, rec *recorder) (TokenSource, error) {
					gotCloud = c.Name
					return fakeSource{func(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
						gotScopes = o.Scopes
						if tt.status != 0 {
							rec.status = tt.status
						}
						return azcore.AccessToken{Token: "entra-token"}, tt.tokenErr
					}}, nil
				},
				exchange: fakeExchanger{func(_ context.Context, h Host, tenant string, aad providers.Secret) (providers.Secret, error) {
					gotService = h.Name
					if aad.Reveal() != "entra-token" || tenant != testTenant {
						t.Errorf("exchange got token %q tenant %q", aad.Reveal(), tenant)
					}
					return providers.Secret(tt.refresh), tt.exErr
				}},
			}
			img, _ := providers.ParseImage(tt.image)
			c, err := p.Fetch(context.Background(), img)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "entra-token") || (tt.refresh != "" && strings.Contains(err.Error(), tt.refresh)) {
					t.Fatalf("error leaks a token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Username != Username || c.Password.Reveal() != refresh || !c.ExpiresAt.Equal(exp) {
				t.Errorf("credential = %+v exp %v, want exp %v", c, c.ExpiresAt, exp)
			}
			if gotCloud != tt.wantCloud || gotService != img.Host || len(gotScopes) != 1 || gotScopes[0] != Scope {
				t.Errorf("cloud %q service %q scopes %v", gotCloud, gotService, gotScopes)
			}
		})
	}
}

// TestPatternsCoverOwnedHosts: the matchImages globs handed to kubelet
// cover every host Match owns, and no glob is wider than the owned forms
// need (each matches a sample of its own form only).
func TestPatternsCoverOwnedHosts(t *testing.T) {
	p, _ := New(nil, providers.Env{})
	owned := []string{"myregistry.azurecr.io", "myregistry.azurecr.cn", "myregistry.azurecr.us", "myregistry.eastus.geo.azurecr.io"}
	for _, host := range owned {
		n := 0
		for _, pat := range p.Patterns() {
			if providers.GlobMatches(pat, host+"/web") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is matched by %d patterns, want exactly 1", host, n)
		}
	}
	for _, host := range []string{"myregistry.azurecr.io.evil.io", "evil.io", "myregistry.azurecr.com"} {
		for _, pat := range p.Patterns() {
			if providers.GlobMatches(pat, host+"/web") {
				t.Errorf("pattern %s matches %s", pat, host)
			}
		}
	}
}

func TestAudienceSetsScope(t *testing.T) {
	tests := map[string]string{
		``: Scope,
		`{"audience":"https://management.chinacloudapi.cn"}`:   "https://management.chinacloudapi.cn/.default",
		`{"audience":"https://management.usgovcloudapi.net/"}`: "https://management.usgovcloudapi.net/.default",
	}
	for raw, want := range tests {
		set, err := ParseConfig(json.RawMessage(raw))
		if err != nil || set.Scope != want {
			t.Errorf("ParseConfig(%s).Scope = %q, %v; want %q", raw, set.Scope, err, want)
		}
	}
}
