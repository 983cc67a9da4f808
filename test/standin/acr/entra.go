package acr

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pullkey/pullkey/test/standin"
)

// Entra hosts: the authority of each cloud, as azidentity reaches them.
var entraHosts = map[string]bool{
	"login.microsoftonline.com": true,
	"login.chinacloudapi.cn":    true,
	"login.microsoftonline.us":  true,
}

// PlaysEntra reports whether host is an Entra authority this stand-in plays.
func PlaysEntra(host string) bool { return entraHosts[hostOnly(host)] }

// EntraCall is one client-credentials token request.
type EntraCall struct {
	Host, Tenant, ClientID, Scope string
	// Secret reports that the client secret matched; Assertion that a
	// client certificate assertion (a JWT) was sent instead.
	Secret, Assertion bool
}

// Entra is a stand-in of the Entra ID token service for the
// service-principal mode: OpenID discovery and the v2.0 token endpoint.
type Entra struct {
	// ClientSecret is the one secret accepted.
	ClientSecret string
	// Huge makes token answers start with standin.HugePadding bytes of
	// whitespace.
	Huge atomic.Bool

	mu     sync.Mutex
	calls  []EntraCall
	issued map[string]bool
}

// Calls returns the token requests seen so far.
func (e *Entra) Calls() []EntraCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EntraCall(nil), e.calls...)
}

// Issued reports whether tok is a token this stand-in issued.
func (e *Entra) Issued(tok string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issued[tok]
}

func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && len(parts) >= 2 && parts[len(parts)-1] == "openid-configuration":
		tenant := parts[0]
		base := "https://" + host + "/" + tenant
		json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 "https://" + host + "/" + tenant + "/v2.0",
		})
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		json.NewEncoder(w).Encode(map[string]any{
			"tenant_discovery_endpoint": r.URL.Query().Get("authorization_endpoint"),
			"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
		})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[3] == "token":
		r.ParseForm()
		c := EntraCall{Host: host, Tenant: parts[0], ClientID: r.PostForm.Get("client_id"), Scope: r.PostForm.Get("scope"),
			Secret:    e.ClientSecret != "" && r.PostForm.Get("client_secret") == e.ClientSecret,
			Assertion: r.PostForm.Get("client_assertion") != ""}
		e.mu.Lock()
		e.calls = append(e.calls, c)
		e.mu.Unlock()
		if r.PostForm.Get("grant_type") != "client_credentials" || !(c.Secret || c.Assertion) {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		tok := "entra-sp-" + randHex(24)
		e.mu.Lock()
		if e.issued == nil {
			e.issued = map[string]bool{}
		}
		e.issued[tok] = true
		e.mu.Unlock()
		if e.Huge.Load() {
			standin.Pad(w)
		}
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	default:
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": "not_found", "path": r.URL.Path})
	}
}
