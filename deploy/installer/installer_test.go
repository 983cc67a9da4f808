package installer

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetAndRemoveExtraArgs(t *testing.T) {
	flags := []string{"--image-credential-provider-config=/c.yaml", "--image-credential-provider-bin-dir=/bin"}
	tests := []struct {
		name, in, want, err string
	}{
		{"new file", "", "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/c.yaml --image-credential-provider-bin-dir=/bin\n", ""},
		{"empty var", "KUBELET_EXTRA_ARGS=\n", "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/c.yaml --image-credential-provider-bin-dir=/bin\n", ""},
		{"quoted, other lines", "A=1\nKUBELET_EXTRA_ARGS='--v=2'\nB=2\n", "A=1\nKUBELET_EXTRA_ARGS='--v=2 --image-credential-provider-config=/c.yaml --image-credential-provider-bin-dir=/bin'\nB=2\n", ""},
		{"already there", "KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir=/bin --image-credential-provider-config=/c.yaml\n", "KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir=/bin --image-credential-provider-config=/c.yaml\n", ""},
		{"other config", "KUBELET_EXTRA_ARGS=--image-credential-provider-config /other.yaml\n", "", "/other.yaml"},
		{"other bin dir", "KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir=/usr/bin\n", "", "/usr/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := setExtraArgs(tt.in, flags)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if tt.in != "" && !strings.Contains(tt.in, "credential") {
				if back := removeExtraArgs(got, flags); back != tt.in {
					t.Errorf("remove: got %q, want %q", back, tt.in)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"real/dir", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"etc/abs":    "/real/dir",
		"etc/rel":    "../real",
		"etc/escape": "../../outside",
		"etc/loop":   "loop",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	h := host{Root: root}
	tests := []struct{ in, want, err string }{
		{"/etc/abs/f", "real/dir/f", ""},
		{"/etc/rel/dir/f", "real/dir/f", ""},
		{"/missing/a/b", "missing/a/b", ""},
		{"/../etc", "etc", ""},
		{"/etc/escape/f", "", "out of the host root"},
		{"/etc/loop/f", "", "too many levels"},
		{"relative", "", "absolute"},
	}
	for _, tt := range tests {
		got, err := h.resolve(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("resolve(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if want := filepath.Join(root, tt.want); err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.in, got, err, want)
		}
	}
}

func TestMergeKeepsUnknownEntriesAndReplacesOwn(t *testing.T) {
	in := `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: pullkey
  matchImages: [old.example]
  defaultCacheDuration: 1m
  apiVersion: credentialprovider.kubelet.k8s.io/v1
- name: gcp
  matchImages: ["*.gcr.io"]
  defaultCacheDuration: 1m
  apiVersion: credentialprovider.kubelet.k8s.io/v1
  tokenAttributes:
    serviceAccountTokenAudience: aud
    cacheType: Token
    requireServiceAccount: false
`
	doc, err := parseDocument("in", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Name: "pullkey", MatchImages: []string{"new.example"}, DefaultCacheDuration: 300e9, PullkeyConfig: "/etc/pullkey/config.yaml"}
	merged := doc.withEntry(e)
	cfg, err := merged.validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 2 || cfg.Providers[0].MatchImages[0] != "new.example" || cfg.Providers[1].TokenAttributes == nil {
		t.Errorf("merged: %+v", cfg.Providers)
	}
	if !merged.withEntry(e).equal(merged) {
		t.Error("merging twice changed the document")
	}
	if got := merged.without("pullkey").providers(); len(got) != 1 {
		t.Errorf("without: %v", got)
	}
}

func TestValidateTokenAttributes(t *testing.T) {
	base := `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: p
  matchImages: [x.example]
  defaultCacheDuration: 1m
  apiVersion: %s
  tokenAttributes:
    serviceAccountTokenAudience: aud
    cacheType: Token
    requireServiceAccount: %s
    requiredServiceAccountAnnotationKeys: [%s]
    optionalServiceAccountAnnotationKeys: [%s]
`
	tests := []struct{ name, api, require, required, optional, err string }{
		{"ok", "credentialprovider.kubelet.k8s.io/v1", "true", "a.example/x", "b.example/y", ""},
		{"v1beta1", "credentialprovider.kubelet.k8s.io/v1beta1", "true", "", "", "only supported with apiVersion"},
		{"required without require", "credentialprovider.kubelet.k8s.io/v1", "false", "a.example/x", "", "requireServiceAccount cannot be false"},
		{"both", "credentialprovider.kubelet.k8s.io/v1", "true", "a.example/x", "a.example/x", "both required and optional"},
		{"bad key", "credentialprovider.kubelet.k8s.io/v1", "true", "'-bad-'", "", "requiredServiceAccountAnnotationKeys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDocument("c", []byte(fmt.Sprintf(base, tt.api, tt.require, tt.required, tt.optional)))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestEncodeOrder(t *testing.T) {
	e := Entry{Name: "pullkey", MatchImages: []string{"a.example"}, DefaultCacheDuration: 60e9, PullkeyConfig: "/c"}
	y, err := RenderConfig(e, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: pullkey\n  matchImages:\n  - a.example\n  defaultCacheDuration: 1m0s\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  args:\n  - get-credentials\n  - --config\n  - /c\n"
	if string(y) != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", y, want)
	}
	doc, err := parseDocument("y", y)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := document{obj: doc.obj, json: true}.encode()
	back, err := parseDocument("j", j)
	if err != nil || !back.equal(doc) || !strings.HasPrefix(string(j), "{\n  \"apiVersion\"") {
		t.Errorf("JSON round trip: %v\n%s", err, j)
	}
}

func TestWriteAtomicNeverWritesGroupOrOtherWritable(t *testing.T) {
	tests := []struct{ in, want fs.FileMode }{
		{0o600, 0o600},
		{0o644, 0o644},
		{0o666, 0o644},
		{0o777, 0o755},
		{0o664, 0o644},
		{fs.ModeSetuid | fs.ModeSetgid | 0o755, 0o755},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "f")
		if err := writeAtomic(p, []byte("x"), tt.in); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.want {
			t.Errorf("writeAtomic(mode %v) wrote %v, want %v", tt.in, fi.Mode(), tt.want)
		}
	}
}
