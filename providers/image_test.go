package providers

import (
	"errors"
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref              string
		host, port, path string
		wantErr          bool
	}{
		{ref: "nginx", host: "docker.io", path: "library/nginx"},
		{ref: "nginx:1.27", host: "docker.io", path: "library/nginx"},
		{ref: "docker.io/library/nginx", host: "docker.io", path: "library/nginx"},
		{ref: "bitnami/redis", host: "docker.io", path: "bitnami/redis"},
		{ref: "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app", host: "123456789012.dkr.ecr.us-west-2.amazonaws.com", path: "team/app"},
		{ref: "ghcr.io/acme/app:v1", host: "ghcr.io", path: "acme/app"},
		{ref: "ghcr.io/acme/app@sha256:abcd", host: "ghcr.io", path: "acme/app"},
		{ref: "ghcr.io/acme/app:v1@sha256:abcd", host: "ghcr.io", path: "acme/app"},
		{ref: "localhost:5000/x", host: "localhost", port: "5000", path: "x"},
		{ref: "localhost/x", host: "localhost", path: "x"},
		{ref: "myregistry.azurecr.io:443/web", host: "myregistry.azurecr.io", port: "443", path: "web"},
		{ref: "evil.io/myregistry.azurecr.io", host: "evil.io", path: "myregistry.azurecr.io"},
		{ref: "user@x.azurecr.io/web", host: "user@x.azurecr.io", path: "web"},
		{ref: "MyRegistry.azurecr.io/web", host: "MyRegistry.azurecr.io", path: "web"},
		{ref: "x.azurecr.io./web", host: "x.azurecr.io.", path: "web"},
		{ref: "", wantErr: true},
		{ref: " nginx", wantErr: true},
		{ref: "ghcr.io/a b", wantErr: true},
		{ref: "https://ghcr.io/acme/app", wantErr: true},
		{ref: "ghcr.io/", wantErr: true},
		{ref: "ghcr.io//x", wantErr: true},
		{ref: "ghcr.io:abc/x", wantErr: true},
		{ref: "ghcr.io:/x", wantErr: true},
		{ref: "ghcr.io/x\n", wantErr: true},
		{ref: strings.Repeat("a", MaxImageLength+1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := ParseImage(tt.ref)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidImage) {
					t.Fatalf("ParseImage(%q) = %+v, %v; want ErrInvalidImage", tt.ref, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImage(%q): %v", tt.ref, err)
			}
			if got.Host != tt.host || got.Port != tt.port || got.Path != tt.path {
				t.Errorf("ParseImage(%q) = host %q port %q path %q; want %q %q %q", tt.ref, got.Host, got.Port, got.Path, tt.host, tt.port, tt.path)
			}
		})
	}
}

func TestIsCanonicalHost(t *testing.T) {
	for h, want := range map[string]bool{
		"ghcr.io": true, "x.azurecr.io": true, "a-b.example.com": true,
		"": false, "GHCR.io": false, "ghcr.io.": false, ".ghcr.io": false, "gh_cr.io": false,
		"xn--ghcr-9ra.io": true, "ghcr\u0131.io": false, "-a.io": false, "a-.io": false, "a..io": false,
		"user@ghcr.io": false,
	} {
		if got := IsCanonicalHost(h); got != want {
			t.Errorf("IsCanonicalHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestGlobMatches(t *testing.T) {
	tests := []struct {
		pattern, image string
		want           bool
	}{
		{"*.azurecr.io", "x.azurecr.io/web", true},
		{"*.azurecr.io", "a.b.azurecr.io/web", false},
		{"*.azurecr.io", "x.azurecr.io.evil.io/web", false},
		{"*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.us-west-2.amazonaws.com/a", true},
		{"ghcr.io", "ghcr.io/acme/app", true},
		{"ghcr.io/acme", "ghcr.io/acme/app", true},
		{"ghcr.io/acme", "ghcr.io/acmecorp/app", true}, // kubelet's plain prefix
		{"ghcr.io/acme", "ghcr.io/other/app", false},
		{"ghcr.io", "ghcr.io:443/acme/app", false},
		{"localhost:5000", "localhost:5000/x", true},
	}
	for _, tt := range tests {
		if got := GlobMatches(tt.pattern, tt.image); got != tt.want {
			t.Errorf("GlobMatches(%q, %q) = %v, want %v", tt.pattern, tt.image, got, tt.want)
		}
	}
}

// FuzzParseImage checks that parsing never panics and that what it returns
// is consistent: the host never contains a "/", the path is non-empty and
// the registry is a prefix of a host-qualified reference.
func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"nginx", "ghcr.io/a/b:c", "x.azurecr.io:443/w@sha256:00", "evil.io/x.azurecr.io", "a:b/c", "ü.io/x", "localhost/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		if img.Host == "" || strings.Contains(img.Host, "/") || strings.Contains(img.Host, ":") {
			t.Fatalf("bad host %q from %q", img.Host, ref)
		}
		if img.Path == "" || strings.HasPrefix(img.Path, "/") || strings.Contains(img.Path, "//") {
			t.Fatalf("bad path %q from %q", img.Path, ref)
		}
		if img.Host != "docker.io" && !strings.HasPrefix(ref, img.Registry()+"/") {
			t.Fatalf("registry %q is not the start of %q", img.Registry(), ref)
		}
	})
}
