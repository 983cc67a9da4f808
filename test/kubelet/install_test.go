package kubelet

// To be copied into test/kubelet (the kubelet-driven module) once deploy
// and that module are merged: it proves kubelet's own loader and validation
// (RegisterCredentialProviderPlugins) accept what "pullkey install" writes,
// in the file form merged with EKS's entry and in the directory form. It
// lives under testdata here because the main module cannot import
// k8s.io/kubernetes.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/kubernetes/pkg/credentialprovider/plugin"

	"github.com/pullkey/pullkey/test/harness"
)

// envInstallCheck makes a child process register one config: kubelet's
// registry panics when a provider name is registered twice in a process.
const envInstallCheck = "PULLKEY_INSTALL_CHECK"

func TestInstalledConfigAcceptedByKubelet(t *testing.T) {
	if v := os.Getenv(envInstallCheck); v != "" {
		cfg, bin, _ := strings.Cut(v, "\n")
		if err := plugin.RegisterCredentialProviderPlugins(cfg, bin, nil, nil); err != nil {
			t.Fatalf("kubelet refused %s: %v", cfg, err)
		}
		return
	}
	if os.Getenv(envScenario) != "" {
		t.Skip("scenario child")
	}
	base := t.TempDir()
	root := filepath.Join(base, "node")
	eks := filepath.Join(root, "etc/eks/image-credential-provider")
	if err := os.MkdirAll(eks, 0o755); err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, eks, "ecr-credential-provider", "#!/bin/sh\n", 0o755)
	harness.WriteFile(t, eks, "config.json", `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig",
"providers":[{"name":"ecr-credential-provider","matchImages":["*.dkr.ecr.*.amazonaws.com"],"defaultCacheDuration":"12h",
"apiVersion":"credentialprovider.kubelet.k8s.io/v1","env":[{"name":"AWS_REGION","value":"us-west-2"}]}]}`, 0o644)
	docker := harness.WriteFile(t, base, "docker.json", `{"auths":{"registry.example.com":{"auth":"dTpw"}}}`, 0o600)
	cfg := harness.WriteFile(t, base, "pullkey.yaml", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\n"+
		"enabledProviders: [dockerconfig]\nproviders:\n  dockerconfig:\n    path: "+docker+"\n", 0o600)

	r := harness.Run(t, nil, "", "install", "--host-root", root, "--platform", "eks", "--pullkey-config-from", cfg)
	if r.Code != 0 {
		t.Fatalf("install: %s", r.Stderr)
	}
	r = harness.Run(t, nil, "", "install", "--host-root", root, "--pullkey-config-from", cfg,
		"--bin-dir", "/etc/eks/image-credential-provider", "--provider-config", "/etc/kubernetes/credential-providers/")
	if r.Code != 0 {
		t.Fatalf("install (directory form): %s", r.Stderr)
	}
	for _, c := range []string{filepath.Join(eks, "config.json"), filepath.Join(root, "etc/kubernetes/credential-providers")} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInstalledConfigAcceptedByKubelet$", "-test.count=1")
		cmd.Env = append(os.Environ(), envInstallCheck+"="+c+"\n"+eks)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("kubelet refused %s: %v\n%s", c, err, out)
		}
	}
}
