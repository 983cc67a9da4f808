package ghcr

import (
	"strings"
	"testing"

	"github.com/pullkey/pullkey/providers"
)

// FuzzGHCRMatch checks that whatever the image, a match is only ever for
// a configured registry host exactly (no port), with an auth key of that
// host and the image's own first path segment, a configured owner (or the
// default), and a scope the selection's safety check accepts.
func FuzzGHCRMatch(f *testing.F) {
	for _, s := range []string{
		"ghcr.io/acme/app", "ghcr.io/ACME/app:1", "ghcr.io.evil.io/acme/app", "evil.io/ghcr.io/acme/x",
		"containers.ghe.example.com/corp/app", "containers.ghe.example.com:443/corp/a", "ghcr.io/acmecorp/app",
		"GHCR.io/acme/app", "ghcr.io./acme/app", "ghcr.io/acme", "ghcr.io/-acme/app", "ghcr.io/acme/app@sha256:abc",
	} {
		f.Add(s)
	}
	p, err := New([]byte(`{
		"owners": {"acme": {"token": {"tokenFile": "/t"}}},
		"enterprise": [{"apiURL": "https://ghe.example.com/api/v3",
			"owners": {"corp": {"app": {"appID": 1, "privateKeyFile": "/k"}}}}]
	}`), providers.Env{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := providers.ParseImage(ref)
		if err != nil {
			return
		}
		scope, ok := p.Match(img)
		if !ok {
			return
		}
		owner := strings.ToLower(img.Owner())
		switch {
		case img.Port != "":
			t.Fatalf("matched %q with a port", ref)
		case img.Host == "ghcr.io" && owner == "acme":
		case img.Host == "containers.ghe.example.com" && owner == "corp":
		default:
			t.Fatalf("matched %q (host %q owner %q) that is not configured", ref, img.Host, owner)
		}
		if scope.AuthKey != img.Host+"/"+img.Owner() || scope.KeyType != providers.KeyImage {
			t.Fatalf("%q: scope %+v", ref, scope)
		}
		if _, _, _, err := (providers.Set{p}).Select(img); err != nil {
			t.Fatalf("%q: %v", ref, err)
		}
	})
}
