package manifeststest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// pullkey builds the repository's pullkey once (or uses PULLKEY_BIN).
func pullkey(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("PULLKEY_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "pullkey-manifests-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pullkey")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/pullkey")
		cmd.Dir = filepath.Join(deployDir(), "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// runInstall runs the rendered init container's args with the built
// binary, as the container would: $(VAR) expanded from its env (ConfigMap
// keys), /host and /config and /secrets mapped to temp directories. The
// pullkey config is replaced by one whose dockerconfig provider claims a
// registry, so the run does not depend on which cloud providers are built in.
func runInstall(t *testing.T, o objects, c corev1.Container) (root string, out string) {
	t.Helper()
	tmp := t.TempDir()
	root = filepath.Join(tmp, "host")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	docker := filepath.Join(tmp, "docker.json")
	os.WriteFile(docker, []byte(`{"auths":{"registry.example.com":{"auth":"dTpw"}}}`), 0o600)
	os.Mkdir(filepath.Join(tmp, "config"), 0o755)
	os.WriteFile(filepath.Join(tmp, "config", "config.yaml"), []byte(
		"apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nenabledProviders: [dockerconfig]\nproviders:\n  dockerconfig:\n    path: "+docker+"\n"), 0o600)
	env := map[string]string{}
	for _, e := range c.Env {
		ref := e.ValueFrom.ConfigMapKeyRef
		for _, cm := range o.configMaps {
			if cm.Name == ref.Name {
				env[e.Name] = cm.Data[ref.Key]
			}
		}
	}
	var args []string
	for _, a := range c.Args {
		a = envRef.ReplaceAllStringFunc(a, func(m string) string { return env[m[2:len(m)-1]] })
		a = strings.Replace(a, "=/host", "="+root, 1)
		a = strings.Replace(a, "=/config/", "="+filepath.Join(tmp, "config")+"/", 1)
		a = strings.Replace(a, "=/secrets/", "="+filepath.Join(tmp, "secrets")+"/", 1)
		args = append(args, a)
	}
	cmd := exec.Command(pullkey(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pullkey %v: %v\n%s", args, err, stderr.String())
	}
	return root, stdout.String()
}

func TestKustomizeInitContainerInstalls(t *testing.T) {
	o := decode(t, "kustomize base", kustomize(t, "kustomize/base"))
	root, out := runInstall(t, o, o.daemonSets[0].Spec.Template.Spec.InitContainers[0])
	for _, p := range []string{"usr/local/lib/kubelet-credential-providers/pullkey", "etc/kubernetes/credential-provider-config.yaml", "etc/pullkey/config.yaml"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v\n%s", p, err, out)
		}
	}
	if strings.Contains(out, "restarted") {
		t.Errorf("base restarted kubelet: %s", out)
	}
}

func TestHelmInitContainerInstalls(t *testing.T) {
	o := decode(t, "helm eks", helm(t, map[string]any{"platform": "eks"}))
	root, _ := runInstall(t, o, o.daemonSets[0].Spec.Template.Spec.InitContainers[0])
	if _, err := os.Stat(filepath.Join(root, "etc/eks/image-credential-provider/config.json")); err != nil {
		t.Error(err)
	}
}
