package installer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	kubeletv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/test/harness"
)

// newHost makes an empty node root with a docker config that gives the
// dockerconfig provider one registry to claim, and the pullkey config that
// enables it (outside the root, as --pullkey-config-from reads it).
func newHost(t *testing.T) (root, pullkeyConfig string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "node")
	mkdir(t, root)
	secrets := filepath.Join(base, "secrets")
	mkdir(t, secrets)
	docker := harness.WriteFile(t, secrets, "docker.json", `{"auths":{"registry.example.com":{"auth":"dTpw"}}}`, 0o600)
	pullkeyConfig = harness.WriteFile(t, base, "pullkey.yaml", fmt.Sprintf(
		"apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nenabledProviders: [dockerconfig]\nproviders:\n  dockerconfig:\n    path: %s\n", docker), 0o600)
	return root, pullkeyConfig
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func install(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return harness.Run(t, nil, "", append([]string{"install"}, args...)...)
}

func uninstall(t *testing.T, root string) harness.Result {
	t.Helper()
	return harness.Run(t, nil, "", "uninstall", "--host-root", root)
}

func mustOK(t *testing.T, r harness.Result) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// entry is one file in a tree snapshot.
type entry struct {
	mode  fs.FileMode
	hash  string
	mtime time.Time
}

// snapshot records every path under root with its mode, content hash (or
// symlink target) and modification time.
func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.hash, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			s := sha256.Sum256(b)
			e.hash = hex.EncodeToString(s[:])
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree compares snapshots; with mtimes, modification times count too.
func sameTree(t *testing.T, what string, before, after map[string]entry, mtimes bool) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[k]
		b := before[k]
		if !mtimes {
			a.mtime, b.mtime = time.Time{}, time.Time{}
		}
		if !ok {
			t.Errorf("%s: %s disappeared", what, k)
		} else if a != b {
			t.Errorf("%s: %s changed: %v -> %v", what, k, b, a)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared", what, k)
		}
	}
}

func fileMode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func readKubeletConfig(t *testing.T, p string) (kubeletv1.CredentialProviderConfig, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var cfg kubeletv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("%s does not decode strictly: %v\n%s", p, err, b)
	}
	var generic map[string]any
	if err := json.Unmarshal(j, &generic); err != nil {
		t.Fatal(err)
	}
	return cfg, generic
}

func TestInstallEmptyHost(t *testing.T) {
	root, pkcfg := newHost(t)
	r := install(t, "--host-root", root, "--platform", "kubeadm", "--pullkey-config-from", pkcfg, "--configure-kubelet")
	mustOK(t, r)

	bin := filepath.Join(root, "usr/local/lib/kubelet-credential-providers/pullkey")
	want, _ := os.ReadFile(harness.Binary(t))
	got, _ := os.ReadFile(bin)
	if !slices.Equal(got, want) {
		t.Errorf("installed binary differs from the running one")
	}
	modes := map[string]fs.FileMode{
		bin: 0o755,
		filepath.Join(root, "etc/pullkey/config.yaml"):                        0o600,
		filepath.Join(root, "etc/kubernetes/credential-provider-config.yaml"): 0o644,
		filepath.Join(root, "etc/default/kubelet"):                            0o644,
		filepath.Join(root, "var/lib/pullkey/install-state.json"):             0o600,
		filepath.Join(root, "var/lib/pullkey"):                                fs.ModeDir | 0o700,
		filepath.Join(root, "usr/local/lib/kubelet-credential-providers"):     fs.ModeDir | 0o755,
		filepath.Join(root, "etc/kubernetes"):                                 fs.ModeDir | 0o755,
	}
	for p, m := range modes {
		if got := fileMode(t, p); got != m {
			t.Errorf("%s: mode %v, want %v", p, got, m)
		}
	}
	src, _ := os.ReadFile(pkcfg)
	if got, _ := os.ReadFile(filepath.Join(root, "etc/pullkey/config.yaml")); string(got) != string(src) {
		t.Errorf("pullkey config = %q, want the source %q", got, src)
	}
	cfg, _ := readKubeletConfig(t, filepath.Join(root, "etc/kubernetes/credential-provider-config.yaml"))
	if len(cfg.Providers) != 1 {
		t.Fatalf("providers: %+v", cfg.Providers)
	}
	p := cfg.Providers[0]
	if p.Name != "pullkey" || p.APIVersion != "credentialprovider.kubelet.k8s.io/v1" ||
		!slices.Equal(p.MatchImages, []string{"registry.example.com"}) ||
		p.DefaultCacheDuration == nil || p.DefaultCacheDuration.Duration != 5*time.Minute ||
		!slices.Equal(p.Args, []string{"get-credentials", "--config", "/etc/pullkey/config.yaml"}) {
		t.Errorf("entry = %+v", p)
	}
	args, _ := os.ReadFile(filepath.Join(root, "etc/default/kubelet"))
	wantArgs := "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/kubernetes/credential-provider-config.yaml --image-credential-provider-bin-dir=/usr/local/lib/kubelet-credential-providers\n"
	if string(args) != wantArgs {
		t.Errorf("/etc/default/kubelet = %q, want %q", args, wantArgs)
	}
	if !strings.Contains(r.Stdout, "restart kubelet") {
		t.Errorf("no restart hint in %q", r.Stdout)
	}

	// The installed binary is the plugin kubelet runs.
	res := harness.Run(t, nil, harness.Request("registry.example.com/app"), "--config", filepath.Join(root, "etc/pullkey/config.yaml"), "--no-cache")
	if a := res.Decode(t).Auth["registry.example.com"]; a.Username != "u" || a.Password != "p" {
		t.Errorf("installed config answers %+v", a)
	}

	mustOK(t, uninstall(t, root))
	if after := snapshot(t, root); len(after) != 1 {
		t.Errorf("after uninstall the empty host holds %v", slices.Sorted(maps.Keys(after)))
	}
}

const eksConfig = `{
    "apiVersion": "kubelet.config.k8s.io/v1",
    "kind": "CredentialProviderConfig",
    "providers": [
        {
            "name": "ecr-credential-provider",
            "matchImages": [
                "*.dkr.ecr.*.amazonaws.com",
                "*.dkr.ecr.*.amazonaws.com.cn",
                "*.dkr.ecr-fips.*.amazonaws.com",
                "public.ecr.aws"
            ],
            "defaultCacheDuration": "12h",
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "args": ["get-credentials"],
            "env": [{"name": "AWS_REGION", "value": "us-west-2"}]
        }
    ]
}
`

func eksHost(t *testing.T) (root, pkcfg, config string) {
	t.Helper()
	root, pkcfg = newHost(t)
	dir := filepath.Join(root, "etc/eks/image-credential-provider")
	mkdir(t, dir)
	harness.WriteFile(t, dir, "ecr-credential-provider", "#!/bin/sh\n", 0o755)
	return root, pkcfg, harness.WriteFile(t, dir, "config.json", eksConfig, 0o644)
}

func TestInstallEKSKeepsOtherProviderIdempotentAndUninstalls(t *testing.T) {
	root, pkcfg, config := eksHost(t)
	before := snapshot(t, root)

	mustOK(t, install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg))
	cfg, generic := readKubeletConfig(t, config)
	if len(cfg.Providers) != 2 || cfg.Providers[0].Name != "ecr-credential-provider" || cfg.Providers[1].Name != "pullkey" {
		t.Fatalf("providers after install: %+v", cfg.Providers)
	}
	var orig map[string]any
	if err := json.Unmarshal([]byte(eksConfig), &orig); err != nil {
		t.Fatal(err)
	}
	if got, want := generic["providers"].([]any)[0], orig["providers"].([]any)[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("ECR entry changed:\n got %v\nwant %v", got, want)
	}
	if b, _ := os.ReadFile(config); !json.Valid(b) {
		t.Errorf("config.json is no longer JSON:\n%s", b)
	}
	if m := fileMode(t, config); m != 0o644 {
		t.Errorf("config.json mode %v", m)
	}

	// A second run changes nothing, and says so.
	installed := snapshot(t, root)
	r := install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg)
	mustOK(t, r)
	if !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("second run said %q", r.Stdout)
	}
	sameTree(t, "second install", installed, snapshot(t, root), true)

	// A dry run of uninstall changes nothing either.
	mustOK(t, harness.Run(t, nil, "", "uninstall", "--host-root", root, "--dry-run"))
	sameTree(t, "uninstall --dry-run", installed, snapshot(t, root), true)

	r = uninstall(t, root)
	mustOK(t, r)
	sameTree(t, "uninstall", before, snapshot(t, root), false)
}

func TestUninstallKeepsLaterEdits(t *testing.T) {
	root, pkcfg, config := eksHost(t)
	mustOK(t, install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg))
	// Someone adds a third provider after pullkey was installed.
	b, _ := os.ReadFile(config)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["providers"] = append(doc["providers"].([]any), map[string]any{
		"name": "other", "matchImages": []any{"other.example"}, "defaultCacheDuration": "1m",
		"apiVersion": "credentialprovider.kubelet.k8s.io/v1"})
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOK(t, uninstall(t, root))
	cfg, _ := readKubeletConfig(t, config)
	var names []string
	for _, p := range cfg.Providers {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"ecr-credential-provider", "other"}) {
		t.Errorf("after uninstall providers = %v", names)
	}
}

func TestInstallRefusesInvalidExistingConfig(t *testing.T) {
	entry := func(name, extra string) string {
		return fmt.Sprintf(`{"name":%q,"matchImages":["x.example"],"defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v1"%s}`, name, extra)
	}
	doc := func(providers ...string) string {
		return `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[` + strings.Join(providers, ",") + `]}`
	}
	tests := []struct{ name, config, want string }{
		{"not YAML", "providers: [", "not valid YAML"},
		{"unknown field", doc(entry("a", `,"color":"red"`)), "unknown field"},
		{"duplicate names", doc(entry("a", ""), entry("a", "")), "duplicate"},
		{"name with slash", doc(entry("../a", "")), "plain file name"},
		{"no defaultCacheDuration", doc(`{"name":"a","matchImages":["x"],"apiVersion":"credentialprovider.kubelet.k8s.io/v1"}`), "defaultCacheDuration: required"},
		{"no matchImages", doc(`{"name":"a","matchImages":[],"defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}`), "matchImages"},
		{"plugin apiVersion", doc(`{"name":"a","matchImages":["x"],"defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v9"}`), "apiVersion"},
		{"kind", `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"KubeletConfiguration","providers":[` + entry("a", "") + `]}`, "kind"},
		{"no providers", doc(), "at least one provider"},
		{"several problems, one line", doc(`{"name":"a/b","matchImages":[],"apiVersion":"v0"}`), "defaultCacheDuration: required"},
		{"bad matchImages", doc(`{"name":"a","matchImages":["%zz"],"defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}`), "matchImages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, pkcfg := newHost(t)
			dir := filepath.Join(root, "etc/eks/image-credential-provider")
			mkdir(t, dir)
			harness.WriteFile(t, dir, "config.json", tt.config, 0o644)
			before := snapshot(t, root)
			r := install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg)
			if r.Code != 1 || !strings.Contains(r.Stderr, "invalid") || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 naming %q", r.Code, r.Stderr, tt.want)
			}
			if strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("stderr is more than one line: %q", r.Stderr)
			}
			sameTree(t, "refused install", before, snapshot(t, root), true)
		})
	}
}

func TestInstallRefusesUnsafePaths(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string
	}{
		{"bin dir is a file", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "etc/eks"))
			harness.WriteFile(t, filepath.Join(root, "etc/eks"), "image-credential-provider", "x", 0o644)
		}, "not a directory"},
		{"world-writable dir", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "etc/eks"))
			if err := os.Chmod(filepath.Join(root, "etc/eks"), 0o777); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others"},
		{"group-writable host dir", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "etc"))
			if err := os.Chmod(filepath.Join(root, "etc"), 0o775); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others"},
		{"symlink escaping the host root", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "etc"))
			if err := os.Symlink("../../../../../../../tmp", filepath.Join(root, "etc/eks")); err != nil {
				t.Fatal(err)
			}
		}, "out of the host root"},
		{"config is a directory", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "etc/eks/image-credential-provider/config.json/x"))
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, pkcfg := newHost(t)
			tt.setup(t, root)
			before := snapshot(t, root)
			r := install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg)
			if r.Code != 1 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 naming %q", r.Code, r.Stderr, tt.want)
			}
			sameTree(t, "refused install", before, snapshot(t, root), true)
		})
	}
}

func TestInstallFollowsSymlinksInsideHostRoot(t *testing.T) {
	root, pkcfg := newHost(t)
	// /etc/eks -> /opt/eks (absolute, as on the node): written under root.
	mkdir(t, filepath.Join(root, "opt/eks"))
	mkdir(t, filepath.Join(root, "etc"))
	if err := os.Symlink("/opt/eks", filepath.Join(root, "etc/eks")); err != nil {
		t.Fatal(err)
	}
	mustOK(t, install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg))
	if m := fileMode(t, filepath.Join(root, "opt/eks/image-credential-provider/pullkey")); m != 0o755 {
		t.Errorf("binary mode %v", m)
	}
	mustOK(t, uninstall(t, root))
	if _, err := os.Lstat(filepath.Join(root, "opt/eks/image-credential-provider")); !os.IsNotExist(err) {
		t.Errorf("uninstall left the bin dir: %v", err)
	}
}

func TestInstallConfigDirectory(t *testing.T) {
	root, pkcfg := newHost(t)
	dir := filepath.Join(root, "etc/kubernetes/credential-providers")
	mkdir(t, dir)
	other := `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: acr-credential-provider
  matchImages: ["*.azurecr.io"]
  defaultCacheDuration: 10m
  apiVersion: credentialprovider.kubelet.k8s.io/v1
`
	harness.WriteFile(t, dir, "10-acr.yaml", other, 0o644)
	before := snapshot(t, root)
	mustOK(t, install(t, "--host-root", root, "--pullkey-config-from", pkcfg, "--provider-config", "/etc/kubernetes/credential-providers/"))
	cfg, _ := readKubeletConfig(t, filepath.Join(dir, "pullkey.yaml"))
	if len(cfg.Providers) != 1 || cfg.Providers[0].Name != "pullkey" {
		t.Errorf("pullkey.yaml providers: %+v", cfg.Providers)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "10-acr.yaml")); string(b) != other {
		t.Errorf("other file changed: %s", b)
	}
	mustOK(t, uninstall(t, root))
	sameTree(t, "uninstall", before, snapshot(t, root), false)

	// A name clash with another file of the directory is refused.
	harness.WriteFile(t, dir, "20-dup.yaml", strings.ReplaceAll(other, "acr-credential-provider", "pullkey"), 0o644)
	before = snapshot(t, root)
	r := install(t, "--host-root", root, "--pullkey-config-from", pkcfg, "--provider-config", "/etc/kubernetes/credential-providers")
	if r.Code != 1 || !strings.Contains(r.Stderr, "already has a provider named pullkey") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	sameTree(t, "refused install", before, snapshot(t, root), true)
}

func TestInstallKeepsKubeletExtraArgs(t *testing.T) {
	root, pkcfg := newHost(t)
	mkdir(t, filepath.Join(root, "etc/default"))
	orig := "# set by image-builder\nKUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.5 --v=2\"\n"
	envFile := harness.WriteFile(t, filepath.Join(root, "etc/default"), "kubelet", orig, 0o640)
	before := snapshot(t, root)
	mustOK(t, install(t, "--host-root", root, "--platform", "capi", "--pullkey-config-from", pkcfg, "--configure-kubelet"))
	got, _ := os.ReadFile(envFile)
	want := "# set by image-builder\nKUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.5 --v=2 --image-credential-provider-config=/etc/kubernetes/credential-provider-config.yaml --image-credential-provider-bin-dir=/opt/bin\"\n"
	if string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if m := fileMode(t, envFile); m != 0o640 {
		t.Errorf("mode %v, want the original 0640", m)
	}
	mustOK(t, uninstall(t, root))
	sameTree(t, "uninstall", before, snapshot(t, root), false)

	// kubelet already pointed at another config: refused.
	harness.WriteFile(t, filepath.Join(root, "etc/default"), "kubelet", "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/other.yaml\n", 0o644)
	before = snapshot(t, root)
	r := install(t, "--host-root", root, "--platform", "capi", "--pullkey-config-from", pkcfg, "--configure-kubelet")
	if r.Code != 1 || !strings.Contains(r.Stderr, "/etc/other.yaml") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	sameTree(t, "refused install", before, snapshot(t, root), true)
}

// fakeSystemctl builds testdata/fakesystemctl, static, as the node's
// /usr/bin/systemctl under root; it records restarts in root/restarts.
func fakeSystemctl(t *testing.T, root string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("restarting kubelet under a host root uses chroot, which needs root (CI runs as root)")
	}
	mkdir(t, filepath.Join(root, "usr/bin"))
	cmd := exec.Command("go", "build", "-o", filepath.Join(root, "usr/bin/systemctl"), "./testdata/fakesystemctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fakesystemctl: %v\n%s", err, out)
	}
}

func TestInstallRestartsKubeletOnlyOnChange(t *testing.T) {
	root, pkcfg := newHost(t)
	fakeSystemctl(t, root)
	args := []string{"--host-root", root, "--platform", "aks", "--pullkey-config-from", pkcfg, "--restart-kubelet"}
	restarts := func() string {
		b, _ := os.ReadFile(filepath.Join(root, "restarts"))
		return string(b)
	}
	// Dry run: nothing written, nothing restarted.
	before := snapshot(t, root)
	r := install(t, append(args, "--dry-run")...)
	mustOK(t, r)
	if !strings.Contains(r.Stdout, "would write kubelet credential provider config /var/lib/kubelet/credential-provider-config.yaml") {
		t.Errorf("dry run said %q", r.Stdout)
	}
	sameTree(t, "dry run", before, snapshot(t, root), true)
	// The node's own systemctl runs, chroot-ed into the host root.
	r = install(t, args...)
	mustOK(t, r)
	if got := restarts(); got != "restart kubelet\n" || !strings.Contains(r.Stdout, "restarted kubelet") {
		t.Fatalf("first install: restarts %q, stdout %q", got, r.Stdout)
	}
	mustOK(t, install(t, args...))
	if got := restarts(); got != "restart kubelet\n" {
		t.Fatalf("unchanged install restarted kubelet: %q", got)
	}
	// A failing restart is an error naming the command and its complaint.
	r = harness.Run(t, nil, "", "uninstall", "--host-root", root, "--restart-kubelet", "--restart-command", "systemctl restart broken")
	if r.Code != 1 || !strings.Contains(r.Stderr, "systemctl restart broken") || !strings.Contains(r.Stderr, "Unit broken.service not found") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	// A command the node does not have.
	root2, _ := newHost(t)
	r = install(t, "--host-root", root2, "--pullkey-config-from", pkcfg, "--restart-kubelet", "--restart-command", "no-such-tool now")
	if r.Code != 1 || !strings.Contains(r.Stderr, "no-such-tool: not found on the node") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestInstallRefusesBadPullkeyConfig(t *testing.T) {
	root, _ := newHost(t)
	bad := harness.WriteFile(t, t.TempDir(), "bad.yaml", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nprovders: {}\n", 0o600)
	before := snapshot(t, root)
	r := install(t, "--host-root", root, "--pullkey-config-from", bad)
	if r.Code != 1 || !strings.Contains(r.Stderr, "provders") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	// No provider claims anything: nothing to install.
	empty := harness.WriteFile(t, t.TempDir(), "empty.yaml", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nenabledProviders: []\n", 0o600)
	r = install(t, "--host-root", root, "--pullkey-config-from", empty)
	if r.Code != 1 || !strings.Contains(r.Stderr, "--match-images") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	sameTree(t, "refused install", before, snapshot(t, root), true)
}

func TestMatchImages(t *testing.T) {
	_, pkcfg := newHost(t)
	r := harness.Run(t, nil, "", "match-images", "--config", pkcfg)
	mustOK(t, r)
	if r.Stdout != "registry.example.com\n" {
		t.Errorf("text: %q", r.Stdout)
	}
	r = harness.Run(t, nil, "", "match-images", "--config", pkcfg, "-o", "json")
	mustOK(t, r)
	if r.Stdout != "[\"registry.example.com\"]\n" {
		t.Errorf("json: %q", r.Stdout)
	}
}

func TestInstallSecretFiles(t *testing.T) {
	root, pkcfg := newHost(t)
	src := harness.WriteFile(t, t.TempDir(), "token", "ghp_example", 0o644)
	before := snapshot(t, root)
	mustOK(t, install(t, "--host-root", root, "--pullkey-config-from", pkcfg, "--secret-file", src+"=/etc/pullkey/ghcr-token"))
	p := filepath.Join(root, "etc/pullkey/ghcr-token")
	if b, _ := os.ReadFile(p); string(b) != "ghp_example" {
		t.Errorf("content %q", b)
	}
	if m := fileMode(t, p); m != 0o600 {
		t.Errorf("mode %v, want 0600 whatever the source's", m)
	}
	r := install(t, "--host-root", root, "--pullkey-config-from", pkcfg, "--secret-file", src+"=relative")
	if r.Code != 2 || strings.Contains(r.Stderr, "ghp_example") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	mustOK(t, uninstall(t, root))
	sameTree(t, "uninstall", before, snapshot(t, root), false)
}

// TestPause checks the DaemonSet's keep-alive command: it runs until the
// pod is stopped (SIGTERM), then exits 0 at once.
func TestPause(t *testing.T) {
	cmd := exec.Command(harness.Binary(t), "pause")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause returned before it was stopped: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause exited with %v after SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pause did not stop on SIGINT")
	}
}
