package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/deploy/installer"
	"github.com/pullkey/pullkey/test/harness"
)

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeYAML(t *testing.T, rel string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(read(t, rel), v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func TestAnsibleRole(t *testing.T) {
	var tasks []map[string]any
	decodeYAML(t, "image-builder/ansible/pullkey/tasks/main.yml", &tasks)
	var defaults, meta map[string]any
	decodeYAML(t, "image-builder/ansible/pullkey/defaults/main.yml", &defaults)
	decodeYAML(t, "image-builder/ansible/pullkey/meta/main.yml", &meta)
	var download, install map[string]any
	for _, task := range tasks {
		if g, ok := task["ansible.builtin.get_url"].(map[string]any); ok {
			download = g
		}
		if c, ok := task["ansible.builtin.command"].(map[string]any); ok {
			install = c
		}
	}
	if download == nil || !strings.HasPrefix(fmt.Sprint(download["checksum"]), "sha256:") ||
		!strings.HasSuffix(fmt.Sprint(download["checksum"]), "/SHA256SUMS") {
		t.Errorf("no checksum-verified download: %v", download)
	}
	if argv := fmt.Sprint(install["argv"]); !strings.Contains(argv, "'install'") || !strings.Contains(argv, "--pullkey-config-from") {
		t.Errorf("install task argv %q", argv)
	}
	if _, err := installer.Preset(fmt.Sprint(defaults["pullkey_platform"])); err != nil {
		t.Error(err)
	}
	if !strings.Contains(fmt.Sprint(defaults["pullkey_config"]), "kind: PullkeyConfig") {
		t.Errorf("pullkey_config %v", defaults["pullkey_config"])
	}
}

func TestPackerSnippet(t *testing.T) {
	var p struct {
		Comment      string `json:"_comment"`
		Provisioners []struct {
			Type            string   `json:"type"`
			Source          string   `json:"source"`
			Destination     string   `json:"destination"`
			EnvironmentVars []string `json:"environment_vars"`
			ExecuteCommand  string   `json:"execute_command"`
			Inline          []string `json:"inline"`
		} `json:"provisioners"`
		Variables map[string]string `json:"variables"`
	}
	dec := json.NewDecoder(bytes.NewReader(read(t, "image-builder/packer/pullkey-provisioner.json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if len(p.Provisioners) != 2 || p.Provisioners[0].Source != "install-pullkey.sh" ||
		!strings.Contains(strings.Join(p.Provisioners[1].Inline, "\n"), "sh /tmp/install-pullkey.sh --platform capi") {
		t.Errorf("provisioners %+v", p.Provisioners)
	}
}

func TestCloudInit(t *testing.T) {
	b := read(t, "cloud-init/pullkey.yaml")
	if !bytes.HasPrefix(b, []byte("#cloud-config\n")) {
		t.Error("cloud-init file must start with #cloud-config")
	}
	var ci struct {
		WriteFiles []struct {
			Path, Owner, Permissions, Content string
		} `json:"write_files"`
		RunCmd [][]string `json:"runcmd"`
	}
	if err := yaml.UnmarshalStrict(b, &ci); err != nil {
		t.Fatal(err)
	}
	script := read(t, "image-builder/install-pullkey.sh")
	found := false
	for _, f := range ci.WriteFiles {
		if f.Path == "/run/pullkey/install-pullkey.sh" {
			found = f.Content == string(script)
		}
	}
	if !found {
		t.Error("cloud-init's install-pullkey.sh is not image-builder/install-pullkey.sh verbatim")
	}
	if len(ci.RunCmd) == 0 || !slices.Contains(ci.RunCmd[0], "/run/pullkey/install-pullkey.sh") {
		t.Errorf("runcmd %v", ci.RunCmd)
	}
}

// release serves a fake release of the built binary for this machine.
func release(t *testing.T, tamper bool) string {
	t.Helper()
	bin, err := os.ReadFile(harness.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	name := "pullkey-linux-" + runtime.GOARCH
	sum := sha256.Sum256(bin)
	if tamper {
		sum[0] ^= 1
	}
	sums := fmt.Sprintf("%s  %s\n%s  pullkey-windows-amd64.exe\n", hex.EncodeToString(sum[:]), name, strings.Repeat("0", 64))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.2.3/" + name:
			w.Write(bin)
		case "/v1.2.3/SHA256SUMS":
			fmt.Fprint(w, sums)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1.2.3"
}

// pullkeyConfig writes a pullkey config whose dockerconfig provider claims
// a registry (so the test does not depend on which clouds are built in).
func pullkeyConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	docker := harness.WriteFile(t, dir, "docker.json", `{"auths":{"registry.example.com":{"auth":"dTpw"}}}`, 0o600)
	return harness.WriteFile(t, dir, "config.yaml",
		"apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nenabledProviders: [dockerconfig]\nproviders:\n  dockerconfig:\n    path: "+docker+"\n", 0o600)
}

func newRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "node")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func runScript(t *testing.T, baseURL string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{filepath.Join(harness.RepoRoot(), "deploy/image-builder/install-pullkey.sh")}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PULLKEY_BASE_URL=" + baseURL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestInstallScript(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("install-pullkey.sh needs curl: ", err)
	}
	root := newRoot(t)
	out, err := runScript(t, release(t, false), "--host-root", root, "--platform", "capi", "--pullkey-config-from", pullkeyConfig(t), "--configure-kubelet")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(root, "opt/bin/pullkey")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("binary: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/default/kubelet")); !strings.Contains(string(b), "--image-credential-provider-bin-dir=/opt/bin") {
		t.Errorf("kubelet flags: %q", b)
	}

	// A binary that does not match SHA256SUMS is never run.
	root = newRoot(t)
	out, err = runScript(t, release(t, true), "--host-root", root, "--platform", "capi", "--pullkey-config-from", pullkeyConfig(t))
	if err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("tampered release: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("tampered release touched the node: %v", entries)
	}
}

// docs are the pages whose commands and paths are checked.
var docs = []string{"../README.md", "platforms/kubeadm.md", "platforms/capi.md", "platforms/eks.md",
	"platforms/aks.md", "platforms/k3s-rke2.md", "platforms/kops.md", "platforms/read-only.md"}

func TestPlatformPagesMatchPresets(t *testing.T) {
	pages := map[string]string{
		"kubeadm": "kubeadm.md", "generic": "kubeadm.md", "capi": "capi.md", "image-builder": "capi.md",
		"eks": "eks.md", "aks": "aks.md", "capz": "aks.md", "k3s": "k3s-rke2.md", "rke2": "k3s-rke2.md", "kops": "kops.md",
	}
	readme := string(read(t, "../README.md"))
	for _, name := range installer.PresetNames() {
		p, _ := installer.Preset(name)
		page, ok := pages[name]
		if !ok {
			t.Errorf("preset %s has no platform page", name)
			continue
		}
		text := string(read(t, "platforms/"+page))
		for _, path := range []string{p.BinDir, p.ProviderConfig} {
			if !strings.Contains(text, "`"+path+"`") {
				t.Errorf("platforms/%s does not name %s's path %s", page, name, path)
			}
			if !strings.Contains(readme, "`"+path+"`") {
				t.Errorf("README.md does not name %s's path %s", name, path)
			}
		}
	}
}

var (
	codeBlock  = regexp.MustCompile("(?s)```(?:sh|yaml)\n(.*?)```")
	pullkeyCmd = regexp.MustCompile(`(?:^|\s)(?:sudo )?(?:\./)?pullkey(?:-linux-amd64)? (install|uninstall)( .*)?$`)
	mdLink     = regexp.MustCompile(`\]\(([^)#]+)\)`)
	repoPath   = regexp.MustCompile(`\bdeploy/[A-Za-z0-9_./-]*[A-Za-z0-9_]`)
)

// TestDocCommands runs every "pullkey install"/"uninstall" line the docs
// show, as a dry run against an empty temp host, and checks every file the
// docs link to or name exists.
func TestDocCommands(t *testing.T) {
	config := pullkeyConfig(t)
	ran := 0
	for _, doc := range docs {
		text := string(read(t, doc))
		for _, block := range codeBlock.FindAllStringSubmatch(text, -1) {
			for _, line := range strings.Split(block[1], "\n") {
				m := pullkeyCmd.FindStringSubmatch(strings.TrimSpace(line))
				if m == nil {
					continue
				}
				args := append([]string{m[1]}, shellFields(t, m[2])...)
				for i, a := range args {
					if a == "config.yaml" {
						args[i] = config
					}
				}
				args = append(args, "--host-root", newRoot(t), "--dry-run")
				r := harness.Run(t, nil, "", args...)
				if r.Code != 0 {
					t.Errorf("%s: %q: exit %d: %s", doc, line, r.Code, r.Stderr)
				}
				ran++
			}
		}
		for _, l := range mdLink.FindAllStringSubmatch(text, -1) {
			if strings.Contains(l[1], "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(harness.RepoRoot(), "deploy", filepath.Dir(doc), l[1])); err != nil {
				t.Errorf("%s links to %s: %v", doc, l[1], err)
			}
		}
		for _, p := range repoPath.FindAllString(text, -1) {
			if _, err := os.Stat(filepath.Join(harness.RepoRoot(), p)); err != nil {
				t.Errorf("%s names %s: %v", doc, p, err)
			}
		}
	}
	if ran < 8 {
		t.Errorf("found only %d pullkey commands in the docs", ran)
	}
}

// shellFields splits a command line as sh would for plain words and
// double-quoted strings.
func shellFields(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
