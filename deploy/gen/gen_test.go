package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	kubeletv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/deploy/installer"
	"github.com/pullkey/pullkey/test/harness"
)

// TestShippedConfigsMatchProviders fails while the shipped
// CredentialProviderConfig files differ from what the built binary's
// providers claim: run "go run ./deploy/gen" after changing a provider.
func TestShippedConfigsMatchProviders(t *testing.T) {
	root := harness.RepoRoot()
	patterns, err := claimed(context.Background(), harness.Binary(t), filepath.Join(root, exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(patterns) == 0 {
		t.Fatal("the providers claim no registries with " + exampleConfig)
	}
	want, err := render(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s is out of date with the providers' patterns %v: run go run ./deploy/gen", name, patterns)
		}
	}
}

// TestShippedConfigsValid checks the shipped files with kubelet's rules, and
// that the YAML and JSON forms say the same.
func TestShippedConfigsValid(t *testing.T) {
	root := harness.RepoRoot()
	var decoded []kubeletv1.CredentialProviderConfig
	for _, name := range []string{yamlConfig, jsonConfig} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := installer.ValidateConfig(name, b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var cfg kubeletv1.CredentialProviderConfig
		if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(cfg.Providers) != 1 {
			t.Fatalf("%s: %d providers", name, len(cfg.Providers))
		}
		p := cfg.Providers[0]
		if p.Name != "pullkey" || !slices.Equal(p.Args, []string{"get-credentials", "--config", installer.DefaultPullkeyConfig}) {
			t.Errorf("%s: entry %+v", name, p)
		}
		decoded = append(decoded, cfg)
	}
	if !slices.Equal(decoded[0].Providers[0].MatchImages, decoded[1].Providers[0].MatchImages) {
		t.Errorf("YAML and JSON matchImages differ")
	}
}

// TestExampleConfig runs the built binary on the shipped example config, as
// kubelet would with the shipped CredentialProviderConfig's args.
func TestExampleConfig(t *testing.T) {
	example := filepath.Join(harness.RepoRoot(), exampleConfig)
	r := harness.Run(t, nil, harness.Request("docker.io/library/nginx"), "get-credentials", "--config", example, "--no-cache")
	if got := r.Decode(t); len(got.Auth) != 0 {
		t.Errorf("example config answers %v for a public image", got.Auth)
	}
}
