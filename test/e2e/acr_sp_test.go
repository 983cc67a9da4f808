package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers/acr"
	"github.com/pullkey/pullkey/test/harness"
	acrstandin "github.com/pullkey/pullkey/test/standin/acr"
)

// TestACRServicePrincipal: the weaker mode, with a client secret file: the
// Entra authority follows the registry's cloud, and a too-open file is
// refused before anything is sent.
func TestACRServicePrincipal(t *testing.T) {
	const tenant = "99999999-8888-7777-6666-555555555555"
	const clientID = "11111111-2222-3333-4444-555555555555"
	entra := &acrstandin.Entra{ClientSecret: "s3cret-value"}
	reg := &acrstandin.Registry{Valid: entra.Issued}
	proxy := harness.StartProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acrstandin.PlaysEntra(r.Host) {
			entra.ServeHTTP(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	dir := t.TempDir()
	secret := harness.WriteFile(t, dir, "secret", "s3cret-value\n", 0o600)
	open := harness.WriteFile(t, dir, "open", "s3cret-value\n", 0o644)
	section := func(file string) string {
		return "    tenantID: " + tenant + "\n    servicePrincipal:\n      clientID: " + clientID + "\n      secretFile: " + file + "\n"
	}
	tests := []struct{ host, authority string }{
		{"myregistry.azurecr.io", "login.microsoftonline.com"},
		{"myregistry.azurecr.cn", "login.chinacloudapi.cn"},
		{"myregistry.azurecr.us", "login.microsoftonline.us"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			res := harness.Run(t, proxy.Env(), harness.Request(tt.host+"/web"), "--no-cache", "--timeout", "5s", "--config", acrConfig(t, section(secret)))
			resp := res.Decode(t)
			if resp.Auth[tt.host].Username != acr.Username {
				t.Fatalf("auth = %v", resp.Auth)
			}
			calls := entra.Calls()
			last := calls[len(calls)-1]
			if last.Host != tt.authority || last.Tenant != tenant || last.ClientID != clientID || !last.Secret || !slices.Contains(strings.Fields(last.Scope), acr.Scope) {
				t.Errorf("token request = %+v, want %s/%s", last, tt.authority, tenant)
			}
			ex := reg.Exchanges()
			if e := ex[len(ex)-1]; e.Host != tt.host || e.Tenant != tenant {
				t.Errorf("exchange = %+v", e)
			}
			if strings.Contains(res.Stderr, "s3cret-value") {
				t.Fatal("secret on stderr")
			}
		})
	}
	t.Run("certificate", func(t *testing.T) {
		certFile := harness.WriteFile(t, t.TempDir(), "sp.pem", acrSelfSignedPEM(t), 0o600)
		cfg := "    tenantID: " + tenant + "\n    servicePrincipal:\n      clientID: " + clientID + "\n      certificateFile: " + certFile + "\n"
		resp := harness.Run(t, proxy.Env(), harness.Request("myregistry.azurecr.io/web"), "--no-cache", "--timeout", "5s", "--config", acrConfig(t, cfg)).Decode(t)
		if resp.Auth["myregistry.azurecr.io"].Username != acr.Username {
			t.Fatalf("auth = %v", resp.Auth)
		}
		calls := entra.Calls()
		if last := calls[len(calls)-1]; !last.Assertion || last.Secret {
			t.Errorf("token request = %+v, want a certificate assertion", last)
		}
	})
	t.Run("open secret file", func(t *testing.T) {
		n := len(entra.Calls())
		res := harness.Run(t, proxy.Env(), harness.Request("myregistry.azurecr.io/web"), "--no-cache", "--timeout", "3s", "--config", acrConfig(t, section(open)))
		if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "chmod 600") || len(entra.Calls()) != n {
			t.Fatalf("exit %d, stdout %q, %d token requests; stderr: %s", res.Code, res.Stdout, len(entra.Calls())-n, res.Stderr)
		}
	})
	t.Run("huge Entra answer", func(t *testing.T) {
		// A valid token after 8 MiB of whitespace: refused by the body
		// bound, not read whole.
		entra.Huge.Store(true)
		defer entra.Huge.Store(false)
		n := len(reg.Exchanges())
		const timeout = 3 * time.Second
		res := harness.Run(t, proxy.Env(), harness.Request("myregistry.azurecr.io/web"), "--no-cache", "--timeout", timeout.String(), "--config", acrConfig(t, section(secret)))
		res.ExpectFailure(t, timeout, "service-principal", "answer is too large", "over pullkey's 1048576-byte limit", "Entra ID")
		if len(reg.Exchanges()) != n {
			t.Errorf("an exchange was made with the oversized answer's token")
		}
		if strings.Contains(res.Stderr, "s3cret-value") {
			t.Fatal("secret on stderr")
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		wrong := harness.WriteFile(t, t.TempDir(), "secret", "not-it\n", 0o600)
		res := harness.Run(t, proxy.Env(), harness.Request("myregistry.azurecr.io/web"), "--no-cache", "--timeout", "3s", "--config", acrConfig(t, section(wrong)))
		if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "Entra ID refused the service principal (HTTP 401)") {
			t.Fatalf("exit %d, stdout %q; stderr: %s", res.Code, res.Stdout, res.Stderr)
		}
	})
}

// acrSelfSignedPEM is a service principal's certificate and key, as the
// Azure portal has you make them (PEM, key unencrypted).
func acrSelfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pullkey-sp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}
