package acr

import (
	"strings"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
)

// TestDemo runs the built binary through the demo's own wiring (the shared
// router behind the proxy, the demo's environment) for each demo image.
func TestDemo(t *testing.T) {
	d, err := NewDemo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	proxy := harness.StartProxy(t, standin.Router([]*standin.Demo{d}))
	env := append(proxy.Env(), d.Env...)
	cache := t.TempDir()
	for _, img := range d.Images {
		resp := harness.Run(t, env, harness.Request(img), "--cache-dir", cache).Decode(t)
		host, _, _ := strings.Cut(img, "/")
		if resp.Auth[host].Username != "00000000-0000-0000-0000-000000000000" || resp.Auth[host].Password == "" {
			t.Fatalf("%s: auth = %v", img, resp.Auth)
		}
	}
	// Two hosts (the registry and its regional endpoint): two tokens, the
	// second image on myregistry.azurecr.io served from the cache.
	if got := d.Calls.Load(); got != 2 {
		t.Errorf("tokens minted = %d, want 2", got)
	}
	if d.Plays("ghcr.io") || !d.Plays("myregistry.azurecr.io") {
		t.Error("Plays claims the wrong hosts")
	}
}
