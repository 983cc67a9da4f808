package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers/acr"
	"github.com/pullkey/pullkey/test/harness"
	acrstandin "github.com/pullkey/pullkey/test/standin/acr"
)

// acrWorld is one test's Azure: an identity endpoint, a registry behind the
// MITM proxy, and the environment that makes pullkey use them.
type acrWorld struct {
	id    *acrstandin.Identity
	reg   *acrstandin.Registry
	env   []string
	cache string
}

func newACRWorld(t *testing.T) *acrWorld {
	t.Helper()
	id := acrstandin.NewIdentity()
	t.Cleanup(id.Close)
	reg := &acrstandin.Registry{Valid: id.Issued}
	proxy := harness.StartProxy(t, reg)
	env := append(proxy.Env(), id.Env()...)
	return &acrWorld{id: id, reg: reg, env: env, cache: t.TempDir()}
}

// acrConfig writes a pullkey config with the given acr section.
func acrConfig(t *testing.T, section string) string {
	t.Helper()
	cfg := "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nproviders:\n  acr:\n" + section
	return harness.WriteFile(t, t.TempDir(), "config.yaml", cfg, 0o600)
}

func (w *acrWorld) run(t *testing.T, image string, args ...string) harness.Result {
	t.Helper()
	return harness.Run(t, w.env, harness.Request(image), append([]string{"--cache-dir", w.cache}, args...)...)
}

func TestACRHappyPath(t *testing.T) {
	w := newACRWorld(t)
	res := w.run(t, "myregistry.azurecr.io/web:1.0")
	resp := res.Decode(t)
	toks := w.reg.RefreshTokens()
	if len(toks) != 1 {
		t.Fatalf("refresh tokens issued: %d, want 1", len(toks))
	}
	want := harness.Auth{Username: acr.Username, Password: toks[0]}
	if got := resp.Auth["myregistry.azurecr.io"]; got != want || len(resp.Auth) != 1 {
		t.Fatalf("auth = %+v, want only myregistry.azurecr.io: %+v", resp.Auth, want)
	}
	if resp.CacheKeyType != "Registry" {
		t.Errorf("cacheKeyType = %q, want Registry", resp.CacheKeyType)
	}
	// The stand-in's token lives 3h; minus the 10 min refresh margin.
	d, err := time.ParseDuration(resp.CacheDuration)
	if err != nil || d > 170*time.Minute || d < 169*time.Minute {
		t.Errorf("cacheDuration = %q, want about 2h50m (exp - 10m margin)", resp.CacheDuration)
	}
	calls := w.id.Calls()
	if len(calls) != 1 {
		t.Fatalf("identity calls = %d, want 1", len(calls))
	}
	c := calls[0]
	if c.Resource != acrstandin.Resource || c.APIVersion != acrstandin.AppServiceAPIVersion || !c.HeaderOK || c.ClientID != "" || c.ResourceID != "" {
		t.Errorf("identity call = %+v, want system-assigned for %s with the header", c, acrstandin.Resource)
	}
	ex := w.reg.Exchanges()
	if len(ex) != 1 || ex[0] != (acrstandin.Exchange{Host: "myregistry.azurecr.io", Service: "myregistry.azurecr.io", TLS: true, OK: true}) {
		t.Fatalf("exchanges = %+v, want one on myregistry.azurecr.io", ex)
	}

	// A second image on the same registry is a cache hit: no call at all.
	resp2 := w.run(t, "myregistry.azurecr.io/team/api").Decode(t)
	if resp2.Auth["myregistry.azurecr.io"].Password != toks[0] {
		t.Errorf("second run did not serve the cached token")
	}
	if n, m := len(w.id.Calls()), len(w.reg.Exchanges()); n != 1 || m != 1 {
		t.Errorf("after a cache hit: %d identity calls, %d exchanges; want 1, 1", n, m)
	}
}

func TestACRRegionalAndSovereignHosts(t *testing.T) {
	w := newACRWorld(t)
	for _, host := range []string{"myregistry.westeurope.geo.azurecr.io", "myregistry.azurecr.cn", "myregistry.azurecr.us"} {
		t.Run(host, func(t *testing.T) {
			resp := w.run(t, host+"/web").Decode(t)
			if resp.Auth[host].Username != acr.Username || resp.Auth[host].Password == "" || len(resp.Auth) != 1 {
				t.Fatalf("auth = %v, want a credential for %s", resp.Auth, host)
			}
			ex := w.reg.Exchanges()
			if last := ex[len(ex)-1]; last.Host != host || last.Service != host {
				t.Errorf("exchange went to %+v, want %s", last, host)
			}
		})
	}
}

func TestACRUserAssignedIdentity(t *testing.T) {
	const clientID = "11111111-2222-3333-4444-555555555555"
	const resourceID = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/nodes/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet"
	tests := []struct {
		name, section string
		want          acrstandin.IdentityCall
	}{
		{"client ID", "    identity:\n      clientID: " + clientID + "\n", acrstandin.IdentityCall{ClientID: clientID}},
		{"resource ID", "    identity:\n      resourceID: " + resourceID + "\n", acrstandin.IdentityCall{ResourceID: resourceID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newACRWorld(t)
			resp := w.run(t, "myregistry.azurecr.io/web", "--config", acrConfig(t, tt.section)).Decode(t)
			if resp.Auth["myregistry.azurecr.io"].Username != acr.Username {
				t.Fatalf("auth = %v", resp.Auth)
			}
			calls := w.id.Calls()
			if len(calls) != 1 {
				t.Fatalf("identity calls = %d, want 1", len(calls))
			}
			got := calls[0]
			if got.ClientID != tt.want.ClientID || got.ResourceID != tt.want.ResourceID || got.ObjectID != "" {
				t.Errorf("identity call = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestACRTenantSentToExchange(t *testing.T) {
	const tenant = "99999999-8888-7777-6666-555555555555"
	w := newACRWorld(t)
	w.run(t, "myregistry.azurecr.io/web", "--config", acrConfig(t, "    tenantID: "+tenant+"\n")).Decode(t)
	if ex := w.reg.Exchanges(); len(ex) != 1 || ex[0].Tenant != tenant {
		t.Fatalf("exchanges = %+v, want tenant %s", ex, tenant)
	}
}

// TestACRHostTable: the provider owns each cloud's form and nothing else;
// an image it does not own gets an empty answer and causes no call.
func TestACRHostTable(t *testing.T) {
	w := newACRWorld(t)
	tests := []struct {
		image string
		owned bool
	}{
		{"myregistry.azurecr.io/web", true},
		{"myregistry.azurecr.cn/web", true},
		{"myregistry.azurecr.us/web", true},
		{"myregistry.eastus.geo.azurecr.io/web", true},
		{"myregistry.azurecr.io.evil.io/web", false},
		{"evil.io/myregistry.azurecr.io", false},
		{"evil.io/myregistry.azurecr.io/web", false},
		{"my-registry.azurecr.io/web", false},
		{"a.b.azurecr.io/web", false},
		{"MyRegistry.azurecr.io/web", false},
		{"myregistry.azurecr.io:443/web", false},
		{"myregistry.azurecr.io:5000/web", false},
		{"abcd.azurecr.io/web", false},
		{"myregistry.eastus.data.azurecr.io/web", false},
		{"myregistry.eastus.azurecr.io/web", false},
		{"myregistry.eastus.geo.azurecr.cn/web", false},
		{"myregistry.azurecr.com/web", false},
		{"azurecr.io/web", false},
		{"myregistry.azurecr.io./web", false},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			before, beforeEx := len(w.id.Calls()), len(w.reg.Exchanges())
			resp := w.run(t, tt.image, "--no-cache").Decode(t)
			calls, exs := len(w.id.Calls())-before, len(w.reg.Exchanges())-beforeEx
			if !tt.owned {
				if len(resp.Auth) != 0 || calls != 0 || exs != 0 {
					t.Fatalf("not owned, yet auth = %v, %d identity calls, %d exchanges", resp.Auth, calls, exs)
				}
				return
			}
			host, _, _ := strings.Cut(tt.image, "/")
			if len(resp.Auth) != 1 || resp.Auth[host].Username != acr.Username || calls != 1 || exs != 1 {
				t.Fatalf("owned, yet auth = %v, %d identity calls, %d exchanges", resp.Auth, calls, exs)
			}
		})
	}
}

// TestACRConcurrentColdStart: 50 processes at once for one registry share
// one identity call and one exchange; a second wave makes none.
func TestACRConcurrentColdStart(t *testing.T) {
	w := newACRWorld(t)
	const n = 50
	wave := func() []harness.Result {
		out := make([]harness.Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = w.run(t, fmt.Sprintf("myregistry.azurecr.io/app%d", i))
			}()
		}
		wg.Wait()
		return out
	}
	check := func(rs []harness.Result) {
		t.Helper()
		toks := w.reg.RefreshTokens()
		if len(toks) != 1 {
			t.Fatalf("refresh tokens minted: %d, want 1", len(toks))
		}
		for _, r := range rs {
			if got := r.Decode(t).Auth["myregistry.azurecr.io"].Password; got != toks[0] {
				t.Fatalf("a process answered a different token")
			}
		}
	}
	check(wave())
	if c, e := len(w.id.Calls()), len(w.reg.Exchanges()); c != 1 || e != 1 {
		t.Fatalf("first wave: %d identity calls, %d exchanges; want 1 and 1", c, e)
	}
	check(wave())
	if c, e := len(w.id.Calls()), len(w.reg.Exchanges()); c != 1 || e != 1 {
		t.Fatalf("second wave: %d identity calls, %d exchanges in all; want still 1 and 1", c, e)
	}
}

// TestACRFailures: each broken dependency gives exit 1 inside a short
// --timeout, one stderr line naming the cause and the fix, nothing on
// stdout.
func TestACRFailures(t *testing.T) {
	const timeout = 3 * time.Second
	tests := []struct {
		name  string
		setup func(t *testing.T, w *acrWorld)
		want  []string
	}{
		{"identity refusing", func(t *testing.T, w *acrWorld) {
			refusing, err := acrstandin.RefusingEnv()
			if err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, refusing...) // later entries win
		}, []string{"no managed identity endpoint on this node", "connection refused", "enable a managed identity"}},
		{"identity hanging", func(t *testing.T, w *acrWorld) { w.id.SetMode(acrstandin.Hang) },
			[]string{"did not answer before the deadline", "raise the timeout"}},
		{"identity 429 forever", func(t *testing.T, w *acrWorld) { w.id.SetMode(acrstandin.Throttle) },
			[]string{"throttled (HTTP 429)", "retry later"}},
		{"identity not assigned", func(t *testing.T, w *acrWorld) { w.id.SetMode(acrstandin.NotAssigned) },
			[]string{"no system-assigned managed identity", "HTTP 400", "providers.acr.identity"}},
		{"exchange 401", func(t *testing.T, w *acrWorld) { w.reg.Deny.Store(true) },
			[]string{"lacks AcrPull", "HTTP 401", "az aks update --attach-acr myregistry", "--role AcrPull"}},
		{"exchange 429 forever", func(t *testing.T, w *acrWorld) { w.reg.Throttle.Store(true) },
			[]string{"token exchange: throttled (HTTP 429)", "retry later"}},
		{"exchange hanging", func(t *testing.T, w *acrWorld) { w.reg.Hang.Store(true) },
			[]string{"token exchange: no answer before the deadline", "port 443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newACRWorld(t)
			tt.setup(t, w)
			res := w.run(t, "myregistry.azurecr.io/web", "--timeout", timeout.String())
			res.ExpectFailure(t, timeout, append(tt.want, "acr: myregistry.azurecr.io")...)
			acrNoSecrets(t, w, res.Stderr)
			t.Logf("took %s; stderr: %s", res.Took.Round(time.Millisecond), res.Stderr)
		})
	}
}

// TestACRNoSecretsInVerboseLog: at -v, neither the Entra token nor the
// refresh token reaches stderr; the refresh token reaches stdout only.
func TestACRNoSecretsInVerboseLog(t *testing.T) {
	w := newACRWorld(t)
	res := w.run(t, "myregistry.azurecr.io/web", "-v")
	res.Decode(t)
	if !strings.Contains(res.Stderr, "credential ready") {
		t.Fatalf("verbose log lacks the success line:\n%s", res.Stderr)
	}
	acrNoSecrets(t, w, res.Stderr)
	t.Logf("stderr at -v:\n%s", res.Stderr)
	if len(w.id.IssuedTokens()) != 1 || len(w.reg.RefreshTokens()) != 1 {
		t.Fatalf("want one token of each kind")
	}
}

func acrNoSecrets(t *testing.T, w *acrWorld, stderr string) {
	t.Helper()
	for _, s := range append(w.id.IssuedTokens(), w.reg.RefreshTokens()...) {
		if strings.Contains(stderr, s) {
			t.Fatalf("a token appears on stderr:\n%s", stderr)
		}
		// A JWT's payload alone would leak it too.
		if parts := strings.Split(s, "."); len(parts) == 3 && strings.Contains(stderr, parts[1]) {
			t.Fatalf("a token's payload appears on stderr")
		}
	}
}

// TestACRConfigExample runs the binary with the configuration example the
// README shows, so the documented keys are the real ones.
func TestACRConfigExample(t *testing.T) {
	example := harness.READMEExample(t, "acr")
	w := newACRWorld(t)
	cfg := harness.WriteFile(t, t.TempDir(), "config.yaml", example, 0o600)
	resp := w.run(t, "myregistry.azurecr.io/web", "--config", cfg).Decode(t)
	if resp.Auth["myregistry.azurecr.io"].Username != acr.Username {
		t.Fatalf("auth = %v", resp.Auth)
	}
	if c := w.id.Calls(); len(c) != 1 || c[0].ClientID != "11111111-2222-3333-4444-555555555555" {
		t.Fatalf("identity calls = %+v, want the README's client ID", c)
	}
}

// TestACRHugeIdentityAnswerIsRefused: an identity endpoint answer padded
// past 1 MiB (a valid token after 8 MiB of whitespace, so a client reading
// without a bound would succeed) fails inside --timeout with one line
// naming the size limit, is not asked for again, and nothing is exchanged.
func TestACRHugeIdentityAnswerIsRefused(t *testing.T) {
	const timeout = 3 * time.Second
	w := newACRWorld(t)
	w.id.SetMode(acrstandin.Huge)
	res := w.run(t, "myregistry.azurecr.io/web", "--timeout", timeout.String())
	res.ExpectFailure(t, timeout, "acr: myregistry.azurecr.io", "answer is too large", "over pullkey's 1048576-byte limit", "IDENTITY_ENDPOINT")
	if n := len(w.id.Calls()); n != 1 {
		t.Errorf("%d identity requests, want 1 (an oversized answer is not retried)", n)
	}
	if n := len(w.reg.Exchanges()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	acrNoSecrets(t, w, res.Stderr)
	t.Logf("took %s; stderr: %s", res.Took.Round(time.Millisecond), res.Stderr)
}
