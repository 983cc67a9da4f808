package manifeststest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// deployDir is the repository's deploy/ directory.
func deployDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// objects is one rendering, decoded strictly.
type objects struct {
	daemonSets []appsv1.DaemonSet
	configMaps []corev1.ConfigMap
	namespaces []corev1.Namespace
}

// decode splits a YAML stream and decodes each document strictly into its
// k8s.io/api type; an unknown field or an unexpected kind fails the test.
func decode(t *testing.T, what string, stream []byte) objects {
	t.Helper()
	var out objects
	for i, doc := range splitYAML(stream) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: document %d: %v", what, i, err)
		}
		var err error
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/DaemonSet":
			var o appsv1.DaemonSet
			err = yaml.UnmarshalStrict(doc, &o)
			out.daemonSets = append(out.daemonSets, o)
		case "v1/ConfigMap":
			var o corev1.ConfigMap
			err = yaml.UnmarshalStrict(doc, &o)
			out.configMaps = append(out.configMaps, o)
		case "v1/Namespace":
			var o corev1.Namespace
			err = yaml.UnmarshalStrict(doc, &o)
			out.namespaces = append(out.namespaces, o)
		default:
			err = fmt.Errorf("unexpected kind %s %s", meta.APIVersion, meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s: document %d (%s): %v\n%s", what, i, meta.Kind, err, doc)
		}
	}
	return out
}

func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		d = bytes.TrimPrefix(bytes.TrimSpace(d), []byte("---"))
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployDir(), dir))
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	b, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func helm(t *testing.T, values map[string]any) []byte {
	t.Helper()
	chart, err := loader.Load(filepath.Join(deployDir(), "helm", "pullkey"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chartutil.ProcessDependencies(chart, values); err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: "pullkey", Namespace: "pullkey-system", Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(chart, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(chart, vals)
	if err != nil {
		t.Fatalf("helm render: %v", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		if !strings.HasSuffix(n, ".yaml") || strings.TrimSpace(files[n]) == "" {
			continue
		}
		fmt.Fprintf(&buf, "---\n%s\n", files[n])
	}
	return buf.Bytes()
}

// checkInstaller checks what every rendering of the DaemonSet must be.
func checkInstaller(t *testing.T, what string, o objects, restart bool) (install corev1.Container) {
	t.Helper()
	if len(o.daemonSets) != 1 || len(o.configMaps) < 1 {
		t.Fatalf("%s: %d DaemonSets, %d ConfigMaps", what, len(o.daemonSets), len(o.configMaps))
	}
	ds := o.daemonSets[0]
	spec := ds.Spec.Template.Spec
	if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		return t.Operator == corev1.TolerationOpExists && t.Key == "" && t.Effect == ""
	}) {
		t.Errorf("%s: does not tolerate every taint: %+v", what, spec.Tolerations)
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("%s: priorityClassName %q", what, spec.PriorityClassName)
	}
	u := ds.Spec.UpdateStrategy
	if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil ||
		u.RollingUpdate.MaxUnavailable == nil || u.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("%s: updateStrategy %+v", what, u)
	}
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
		t.Fatalf("%s: containers %d init, %d", what, len(spec.InitContainers), len(spec.Containers))
	}
	install = spec.InitContainers[0]
	if len(install.Args) < 2 || install.Args[0] != "install" || !slices.Contains(install.Args, "--host-root=/host") {
		t.Errorf("%s: init args %v", what, install.Args)
	}
	if !slices.ContainsFunc(install.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/host" }) {
		t.Errorf("%s: no /host mount", what)
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == "/" }) {
		t.Errorf("%s: no hostPath / volume", what)
	}
	if c := spec.Containers[0]; !slices.Equal(c.Args, []string{"pause"}) || c.Image != install.Image {
		t.Errorf("%s: keep-alive container %v %s", what, c.Args, c.Image)
	}
	if spec.HostPID != restart {
		t.Errorf("%s: hostPID %v, want %v", what, spec.HostPID, restart)
	}
	return install
}

func TestKustomize(t *testing.T) {
	base := decode(t, "kustomize base", kustomize(t, "kustomize/base"))
	checkInstaller(t, "kustomize base", base, false)
	restartOff := false
	for _, cm := range base.configMaps {
		if strings.HasPrefix(cm.Name, "pullkey-installer") {
			restartOff = cm.Data["restartKubelet"] == "false" && cm.Data["platform"] == "generic"
		}
		if strings.HasPrefix(cm.Name, "pullkey-config") && !strings.Contains(cm.Data["config.yaml"], "kind: PullkeyConfig") {
			t.Errorf("pullkey config: %q", cm.Data)
		}
	}
	if !restartOff {
		t.Errorf("base does not default to restartKubelet=false on the generic platform: %+v", base.configMaps)
	}
	if len(base.namespaces) != 1 || base.daemonSets[0].Namespace != base.namespaces[0].Name {
		t.Errorf("namespace: %+v", base.namespaces)
	}

	eks := decode(t, "kustomize eks-restart", kustomize(t, "kustomize/examples/eks-restart"))
	install := checkInstaller(t, "kustomize eks-restart", eks, true)
	if install.SecurityContext == nil || install.SecurityContext.Privileged == nil || !*install.SecurityContext.Privileged {
		t.Errorf("restart needs a privileged init container: %+v", install.SecurityContext)
	}
	for _, cm := range eks.configMaps {
		if strings.HasPrefix(cm.Name, "pullkey-installer") && (cm.Data["restartKubelet"] != "true" || cm.Data["platform"] != "eks") {
			t.Errorf("eks-restart settings: %v", cm.Data)
		}
	}
}

func TestHelmDefaults(t *testing.T) {
	o := decode(t, "helm defaults", helm(t, map[string]any{}))
	install := checkInstaller(t, "helm defaults", o, false)
	if slices.ContainsFunc(install.Args, func(a string) bool { return strings.HasPrefix(a, "--restart-kubelet") }) {
		t.Errorf("restart on by default: %v", install.Args)
	}
	if !slices.Contains(install.Args, "--platform=generic") {
		t.Errorf("args %v", install.Args)
	}
	if cfg := o.configMaps[0].Data["config.yaml"]; !strings.Contains(cfg, "kind: PullkeyConfig") {
		t.Errorf("config %q", cfg)
	}
}

func TestHelmRestartAndSecrets(t *testing.T) {
	o := decode(t, "helm restart", helm(t, map[string]any{
		"platform":       "k3s",
		"restartKubelet": true,
		"restartCommand": "systemctl restart k3s",
		"providerConfig": "/etc/kubernetes/credential-providers/",
		"secretFiles": []any{
			map[string]any{"secretName": "ghcr-token", "key": "token", "path": "/etc/pullkey/ghcr-token"},
		},
	}))
	install := checkInstaller(t, "helm restart", o, true)
	for _, want := range []string{
		"--platform=k3s", "--restart-kubelet",
		"--restart-command=systemctl restart k3s",
		"--provider-config=/etc/kubernetes/credential-providers/",
		"--secret-file=/secrets/0/token=/etc/pullkey/ghcr-token",
	} {
		if !slices.Contains(install.Args, want) {
			t.Errorf("args %v lack %q", install.Args, want)
		}
	}
	spec := o.daemonSets[0].Spec.Template.Spec
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "ghcr-token" }) {
		t.Errorf("no secret volume: %+v", spec.Volumes)
	}
}
