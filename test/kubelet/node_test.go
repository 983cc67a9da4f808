package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/test/harness"
)

// This file is the "node": a bin dir, a CredentialProviderConfig, and
// kubelet's own plugin code registered in this process. Kubelet keeps its
// registered providers in package globals (registering a name twice
// panics), so every scenario runs in a fresh child process of the test
// binary: the parent re-executes itself with envScenario naming the
// scenario, and the child builds one node and runs it.

const (
	// envScenario names the scenario a child process runs.
	envScenario = "PULLKEY_KUBELET_SCENARIO"
	// envPhase numbers the kubelet process (from 0) of a scenario that
	// restarts kubelet; envState is a directory its processes share (the
	// node's pullkey disk cache lives there).
	envPhase = "PULLKEY_KUBELET_PHASE"
	envState = "PULLKEY_KUBELET_STATE"
	// shippedConfig is the CredentialProviderConfig deploy/ ships, relative
	// to the repository root. When it is absent, defaultProviderConfig
	// stands in for it.
	shippedConfig = "deploy/kubelet/credential-provider-config.yaml"
	// providerName is the executable name kubelet runs (the config's
	// providers[].name).
	providerName = "pullkey"
	// pluginTimeout is pullkey's --timeout in the suite.
	pluginTimeout = "3s"
)

// defaultProviderConfig is used until deploy/ ships its file: the hosts the
// providers own, as kubelet globs.
const defaultProviderConfig = `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: pullkey
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    defaultCacheDuration: 10m
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "*.dkr.ecr.*.amazonaws.com.cn"
      - "*.dkr.ecr-fips.*.amazonaws.com"
      - "*.dkr-ecr.*.on.aws"
      - "public.ecr.aws"
      - "ecr-public.aws.com"
      - "*.azurecr.io"
      - "*.azurecr.cn"
      - "*.azurecr.us"
      - "*.*.geo.azurecr.io"
      - "ghcr.io"
    args: ["--config", "/etc/pullkey/config.yaml"]
`

// runScenarios runs each scenario in its own child process, or, inside a
// child, the one scenario it was started for.
func runScenarios(t *testing.T, scenarios []scenario) {
	mine := os.Getenv(envScenario)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if mine == sc.name {
				sc.run(t)
				return
			}
			if mine != "" {
				t.Skip("child process for another scenario")
			}
			t.Parallel()
			state := t.TempDir()
			for phase := range max(sc.phases, 1) {
				runChild(t, sc.name, phase, state)
			}
		})
	}
}

// runChild re-executes the test binary for one scenario (one kubelet
// process of it: phase), with a clean environment (no developer cloud
// settings reach kubelet or pullkey), and fails with the child's output if
// the scenario did not pass.
func runChild(t *testing.T, name string, phase int, state string) {
	bin := harness.Binary(t) // build once in the parent, share with children
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := "^" + regexp.QuoteMeta(t.Name()) + "$"
	run = strings.Replace(run, "/", "$/^", 1)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"TMPDIR=" + os.TempDir(),
		"PULLKEY_BIN=" + bin,
		envScenario + "=" + name,
		envPhase + "=" + strconv.Itoa(phase),
		envState + "=" + state,
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("scenario %s failed in its kubelet process %d (%v):\n%s", name, phase, err, out)
	}
	if testing.Verbose() {
		t.Logf("kubelet process output:\n%s", out)
	}
}

// node is one kubelet's view of pullkey: bin dir, config, caches, logs.
type node struct {
	t        *testing.T
	dir      string
	binDir   string
	execLog  string // one line per plugin execution
	reqLog   string // the request kubelet wrote, one line per execution
	pkConfig string // pullkey's own --config file
	cacheDir string // pullkey's disk cache
	klog     *klogRecorder
	saTokens atomic.Int64 // service account tokens kubelet asked for
	// sa is the service account kubelet runs pods with, "" for none.
	sa string
}

// nodeOptions say how the node's CredentialProviderConfig differs from
// the shipped one.
type nodeOptions struct {
	// extraMatchImages are added to the provider's matchImages: the node's
	// own registries, and public hosts the suite wants pullkey asked about.
	extraMatchImages []string
	// env is added to the provider's env (stand-in endpoints, proxy).
	env []string
	// tokenAttributes turns on service-account-token mode.
	tokenAttributes *kubeletconfigv1.ServiceAccountTokenAttributes
	// shippedAsIs registers the shipped config unchanged.
	shippedAsIs bool
}

// newNode prepares a bin dir holding a counting pullkey wrapper and writes
// the CredentialProviderConfig, then registers it through kubelet's own
// RegisterCredentialProviderPlugins (which loads and validates it).
func newNode(t *testing.T, opts nodeOptions) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{
		t:        t,
		dir:      dir,
		binDir:   filepath.Join(dir, "bin"),
		execLog:  filepath.Join(dir, "execs.log"),
		reqLog:   filepath.Join(dir, "requests.log"),
		pkConfig: filepath.Join(dir, "pullkey.yaml"),
		cacheDir: filepath.Join(dir, "cache"),
		klog:     &klogRecorder{},
	}
	if os.Getenv(envState) != "" {
		// The node's disk, which survives a kubelet restart.
		n.cacheDir = filepath.Join(stateDir(t), "pullkey-cache")
	}
	captureKlog(t, n.klog)

	// The real binary lives outside the bin dir; the bin dir's pullkey is a
	// wrapper that counts executions and then becomes the real one.
	real := filepath.Join(dir, "real", providerName)
	mustMkdir(t, filepath.Dir(real), n.binDir, n.cacheDir)
	copyFile(t, harness.Binary(t), real, 0o755)
	// wrapper that counts executions, keeps the request kubelet wrote, and
	// then becomes the real one with the same stdin, args and environment.
	wrapper := fmt.Sprintf(`#!/bin/sh
echo exec >> '%s'
req=$(cat)
printf '%%s\n' "$req" >> '%s'
printf '%%s' "$req" | exec '%s' "$@"
`, n.execLog, n.reqLog, real)
	harness.WriteFile(t, n.binDir, providerName, wrapper, 0o755)
	harness.WriteFile(t, dir, filepath.Base(n.execLog), "", 0o600)
	harness.WriteFile(t, dir, filepath.Base(n.reqLog), "", 0o600)

	cfgPath := filepath.Join(dir, "credential-provider-config.yaml")
	raw, source := loadShippedConfig(t)
	if opts.shippedAsIs {
		harness.WriteFile(t, dir, filepath.Base(cfgPath), string(raw), 0o644)
	} else {
		harness.WriteFile(t, dir, filepath.Base(cfgPath), string(n.testConfig(raw, opts)), 0o644)
	}
	t.Logf("CredentialProviderConfig from %s", source)

	err := plugin.RegisterCredentialProviderPlugins(cfgPath, n.binDir, n.serviceAccountToken, n.serviceAccount)
	if err != nil {
		t.Fatalf("kubelet refused the CredentialProviderConfig (%s): %v", source, err)
	}
	return n
}

// stateDir is the directory every kubelet process of the running scenario
// shares (the node's disk across a kubelet restart); outside a child
// process, a temp dir.
func stateDir(t *testing.T) string {
	if d := os.Getenv(envState); d != "" {
		return d
	}
	return t.TempDir()
}

// loadShippedConfig returns the CredentialProviderConfig deploy/ ships, or
// the suite's default until it exists.
func loadShippedConfig(t *testing.T) ([]byte, string) {
	t.Helper()
	p := filepath.Join(harness.RepoRoot(), shippedConfig)
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		return b, shippedConfig
	case errors.Is(err, os.ErrNotExist):
		return []byte(defaultProviderConfig), "the suite's default (" + shippedConfig + " does not exist yet)"
	default:
		t.Fatal(err)
		return nil, ""
	}
}

// testConfig is the shipped config as this node runs it: only the pullkey
// provider; pullkey's --config and --cache-dir pointed at the test's files
// and a short --timeout; the extra matchImages, env and tokenAttributes.
func (n *node) testConfig(raw []byte, opts nodeOptions) []byte {
	t := n.t
	t.Helper()
	var cfg kubeletconfigv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("decode shipped CredentialProviderConfig: %v", err)
	}
	var p *kubeletconfigv1.CredentialProvider
	for i := range cfg.Providers {
		if cfg.Providers[i].Name == providerName {
			p = &cfg.Providers[i]
		}
	}
	if p == nil {
		t.Fatalf("shipped CredentialProviderConfig has no provider named %q", providerName)
	}
	p.Args = append(dropFlags(p.Args, "config", "cache-dir", "timeout"),
		"--config", n.pkConfig, "--cache-dir", n.cacheDir, "--timeout", pluginTimeout)
	p.MatchImages = append(p.MatchImages, opts.extraMatchImages...)
	for _, kv := range opts.env {
		name, value, _ := strings.Cut(kv, "=")
		p.Env = append(p.Env, kubeletconfigv1.ExecEnvVar{Name: name, Value: value})
	}
	p.TokenAttributes = opts.tokenAttributes
	cfg.Providers = []kubeletconfigv1.CredentialProvider{*p}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dropFlags removes --name value and --name=value (and single-dash forms)
// for each name from args.
func dropFlags(args []string, names ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		name, _, hasValue := strings.Cut(a, "=")
		if strings.HasPrefix(args[i], "-") && slices.Contains(names, name) {
			if !hasValue {
				i++ // skip the value
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// writePullkeyConfig (re)writes pullkey's own config file; pullkey reads it
// at every execution, so a scenario may change it between lookups.
func (n *node) writePullkeyConfig(providers map[string]json.RawMessage) {
	n.t.Helper()
	cfg := map[string]any{
		"apiVersion": "pullkey.dev/v1alpha1",
		"kind":       "PullkeyConfig",
		"providers":  providers,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		n.t.Fatal(err)
	}
	n.writePullkeyConfigRaw(string(b))
}

func (n *node) writePullkeyConfigRaw(content string) {
	n.t.Helper()
	harness.WriteFile(n.t, n.dir, filepath.Base(n.pkConfig), content, 0o600)
}

// execs is how many times kubelet has executed the plugin so far.
func (n *node) execs() int {
	n.t.Helper()
	b, err := os.ReadFile(n.execLog)
	if err != nil {
		n.t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// cred is one credential as kubelet's keyring hands it to the runtime.
type cred struct{ Username, Password string }

// requests returns the CredentialProviderRequests kubelet wrote so far.
func (n *node) requests() []map[string]any {
	n.t.Helper()
	b, err := os.ReadFile(n.reqLog)
	if err != nil {
		n.t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			n.t.Fatalf("request %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// lookup asks kubelet's keyring for image's credentials, as kubelet does
// for a pod's pull: a fresh keyring per pod over the registered plugins.
func (n *node) lookup(image string) []cred {
	podUID := "pod-uid-" + fmt.Sprint(time.Now().UnixNano())
	kr := plugin.NewExternalCredentialProviderDockerKeyring("team", "app-0", podUID, n.sa)
	got, _ := kr.Lookup(image)
	var out []cred
	for _, c := range got {
		a := c.AuthConfig
		if a.Auth != "" || a.IdentityToken != "" || a.RegistryToken != "" {
			n.t.Errorf("%s: unexpected auth fields %+v", image, a)
		}
		out = append(out, cred{a.Username, a.Password})
	}
	return out
}

// serviceAccountToken plays the API server's TokenRequest for kubelet in
// service-account-token mode.
func (n *node) serviceAccountToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	n.saTokens.Add(1)
	out := tr.DeepCopy()
	out.Status.Token = fmt.Sprintf("sa-token.%s.%s.%s", namespace, name, strings.Join(tr.Spec.Audiences, ","))
	out.Status.ExpirationTimestamp = metav1.NewTime(time.Now().Add(time.Hour))
	return out, nil
}

// serviceAccount plays the API server's ServiceAccount GET.
func (n *node) serviceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: namespace, Name: name, UID: types.UID("sa-uid-" + name),
		Annotations: map[string]string{"pullkey.dev/role": "reader"},
	}}, nil
}

// captureKlog routes kubelet's log (where a plugin error surfaces, with
// the plugin's stderr) into rec.
func captureKlog(t *testing.T, rec *klogRecorder) {
	klog.SetLogger(logr.New(rec))
	t.Cleanup(func() {
		klog.ClearLogger()
		if t.Failed() || testing.Verbose() {
			t.Logf("kubelet log:\n%s", rec.String())
		}
	})
}

// klogEntry is one line kubelet logged.
type klogEntry struct {
	Msg string
	Err error
	KV  []any
}

func (e klogEntry) String() string {
	s := e.Msg
	if e.Err != nil {
		s += " err=" + strconv.Quote(e.Err.Error())
	}
	for i := 0; i+1 < len(e.KV); i += 2 {
		s += fmt.Sprintf(" %v=%q", e.KV[i], fmt.Sprint(e.KV[i+1]))
	}
	return s
}

// klogRecorder is a logr.LogSink keeping every entry kubelet logs at
// verbosity 0 (klog filters V(n) itself).
type klogRecorder struct {
	mu      sync.Mutex
	entries []klogEntry
}

func (r *klogRecorder) Init(logr.RuntimeInfo)  {}
func (r *klogRecorder) Enabled(level int) bool { return level == 0 }
func (r *klogRecorder) Info(_ int, msg string, kv ...any) {
	r.add(klogEntry{Msg: msg, KV: kv})
}
func (r *klogRecorder) Error(err error, msg string, kv ...any) {
	r.add(klogEntry{Msg: msg, Err: err, KV: kv})
}
func (r *klogRecorder) WithValues(...any) logr.LogSink { return r }
func (r *klogRecorder) WithName(string) logr.LogSink   { return r }
func (r *klogRecorder) add(e klogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

// errors returns the error entries logged so far.
func (r *klogRecorder) errors() []klogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []klogEntry
	for _, e := range r.entries {
		if e.Err != nil {
			out = append(out, e)
		}
	}
	return out
}

func (r *klogRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.entries {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

func mustMkdir(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
