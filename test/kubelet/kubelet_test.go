package kubelet

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kubeletconfigv1 "k8s.io/kubelet/config/v1"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
)

// TestKubelet runs every scenario through kubelet's own credential provider
// code, each in a kubelet process of its own.
func TestKubelet(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "shipped-config", run: runShippedConfig},
		{name: "node", run: func(t *testing.T) { runNode(t, false) }},
		{name: "node-sa-token", run: func(t *testing.T) { runNode(t, true) }},
		{name: "plugin-error", run: runPluginError},
		{name: "kubelet-restart", phases: 2, run: runRestart},
	})
}

// scenario is one kubelet process's worth of lookups, or several
// processes' (phases) when it restarts kubelet.
type scenario struct {
	name   string
	phases int
	run    func(t *testing.T)
}

// step is one pod's image lookup through kubelet's keyring and what it
// must give.
type step struct {
	image string
	// want are exactly the credentials kubelet hands the runtime; nil: none
	// (the image is pulled anonymously).
	want []cred
	// wantFunc, when set, gives want after the lookup (a credential the
	// stand-in minted during it).
	wantFunc func() []cred
	// save keeps this lookup's credentials under a name in the scenario's
	// state, for a later kubelet process of the scenario; wantSaved wants
	// the credentials saved under that name (kubelet-restart, phase 1).
	save, wantSaved string
	// execs is how many times kubelet executes pullkey for this lookup
	// (0: kubelet's cache answered, or the image is not in matchImages).
	execs int
	// calls are the upstream calls (standin.Demo.Calls) this lookup causes,
	// per provider; every stand-in not named must see none.
	calls map[string]int64
	// pods > 1 looks the image up from that many pods at once.
	pods int
	// before runs first (to change a file pullkey reads at every exec, or
	// make a stand-in fail).
	before func(n *node)
	// maxWait, when set, bounds how long the lookup may take (pullkey must
	// answer within its --timeout even when a cloud hangs).
	maxWait time.Duration
	// errLike, when set, are substrings of the plugin error kubelet must log
	// for this lookup (its text carries the plugin's stderr).
	errLike []string
}

// The node's own registry, served from a docker config file on the node.
const (
	nodeRegistry = "registry.node.internal:5000"
	nodeUser     = "node-puller"
)

// nodeSecret is the password in the node's docker config file: random per
// run, so finding it in a log means it leaked there.
var nodeSecret = "dockercfg-" + randomHex(12)

// publicHosts are registries no provider owns; the suite adds them to
// matchImages so that kubelet does ask pullkey about them.
var publicHosts = []string{"docker.io", "quay.io"}

// nodeSteps are the lookups every node scenario makes for the docker-config
// registry and the public images, in order; the expected exec counts follow
// kubelet's cache: an answer is reused per registry (cacheKeyType Registry,
// dockerconfig's answers) or per image (empty answers), for the
// cacheDuration given or the config's defaultCacheDuration.
func nodeSteps() []step {
	nodeCred := []cred{{nodeUser, nodeSecret}}
	return []step{
		{image: nodeRegistry + "/team/app", want: nodeCred, execs: 1},
		{image: nodeRegistry + "/team/app", want: nodeCred, execs: 0},
		{image: nodeRegistry + "/other/tool", want: nodeCred, execs: 0},
		// Same host without the port: neither matchImages nor the docker
		// config entry match it.
		{image: "registry.node.internal/team/app", want: nil, execs: 0},
		{image: "docker.io/library/nginx", want: nil, execs: 1},
		{image: "docker.io/library/nginx", want: nil, execs: 0},
		{image: "quay.io/x/y", want: nil, execs: 1},
		// Pods starting together: kubelet runs the plugin once per image.
		{image: "docker.io/library/busybox", want: nil, execs: 1, pods: 8},
		// A host no provider config and no matchImages entry names.
		{image: "registry.example.com/app", want: nil, execs: 0},
	}
}

// runNode is the full node: docker-config registry, public images, and
// every cloud in clouds, with service-account-token mode off or on.
func runNode(t *testing.T, saMode bool) {
	demos, env := startClouds(t)
	opts := nodeOptions{
		extraMatchImages: append([]string{nodeRegistry}, publicHosts...),
		env:              env,
	}
	if saMode {
		no := false
		opts.tokenAttributes = &kubeletconfigv1.ServiceAccountTokenAttributes{
			ServiceAccountTokenAudience:          "pullkey.dev",
			CacheType:                            kubeletconfigv1.ServiceAccountServiceAccountTokenCacheType,
			RequireServiceAccount:                &no,
			OptionalServiceAccountAnnotationKeys: []string{"pullkey.dev/role"},
		}
	}
	n := newNode(t, opts)
	if saMode {
		n.sa = "default"
	}
	sections := map[string]json.RawMessage{"dockerconfig": n.dockerConfigSection(nodeRegistry, nodeUser, nodeSecret)}
	steps := nodeSteps()
	for _, c := range demos {
		if c.demo.Config != nil {
			sections[c.demo.Provider] = c.demo.Config
		}
		steps = append(steps, c.steps(c.demo)...)
	}
	n.writePullkeyConfig(sections)
	n.runSteps(demos, steps)

	// What kubelet sent: the service-account fields exactly when the mode
	// is on, and pullkey answered them all the same.
	reqs := n.requests()
	if len(reqs) == 0 {
		t.Fatal("kubelet never executed pullkey")
	}
	for _, r := range reqs {
		_, hasToken := r["serviceAccountToken"]
		if hasToken != saMode {
			t.Errorf("request %v: serviceAccountToken present=%v, want %v", r, hasToken, saMode)
		}
		if saMode {
			want := map[string]any{"pullkey.dev/role": "reader"}
			if got, _ := r["serviceAccountAnnotations"].(map[string]any); !maps.Equal(got, want) {
				t.Errorf("request %v: serviceAccountAnnotations %v, want %v", r, got, want)
			}
		}
	}
	if saMode && n.saTokens.Load() == 0 {
		t.Error("kubelet never asked for a service account token")
	}
	n.assertNoSecretsLogged(steps)
}

// runRestart runs the node twice, as a kubelet restart does: phase 0 cold,
// phase 1 a new kubelet (empty memory cache) on the same node, whose
// pullkey disk cache survived. The clouds' afterRestart steps say what
// phase 1 must see: plugin executions again, upstream calls not.
func runRestart(t *testing.T) {
	phase := os.Getenv(envPhase)
	demos, env := startClouds(t)
	n := newNode(t, nodeOptions{extraMatchImages: []string{nodeRegistry}, env: env})
	sections := map[string]json.RawMessage{"dockerconfig": n.dockerConfigSection(nodeRegistry, nodeUser, nodeSecret)}
	nodeCred := []cred{{nodeUser, nodeSecret}}
	// The docker-config answer lives in kubelet's memory only: a restarted
	// kubelet runs pullkey again.
	steps := []step{{image: nodeRegistry + "/team/app", want: nodeCred, execs: 1}}
	for _, c := range demos {
		if c.demo.Config != nil {
			sections[c.demo.Provider] = c.demo.Config
		}
		switch {
		case phase == "0":
			steps = append(steps, c.steps(c.demo)...)
		case c.afterRestart != nil:
			steps = append(steps, c.afterRestart(c.demo)...)
		}
	}
	n.writePullkeyConfig(sections)
	t.Logf("kubelet process %s", phase)
	n.runSteps(demos, steps)
	n.assertNoSecretsLogged(steps)
}

// runShippedConfig registers the shipped CredentialProviderConfig exactly
// as shipped: kubelet must accept it, and public images get nothing.
func runShippedConfig(t *testing.T) {
	n := newNode(t, nodeOptions{shippedAsIs: true})
	for _, img := range []string{"docker.io/library/nginx", "quay.io/x/y", "registry.example.com/app"} {
		if got := n.lookup(img); got != nil {
			t.Errorf("%s: got credentials %v, want none", img, got)
		}
	}
}

// runPluginError makes pullkey fail in the ways a node can break it, and
// checks what kubelet does with that: no credentials, the error logged
// with pullkey's short stderr (no secret in it), errors not cached, and
// recovery without a kubelet restart once the node is fixed.
func runPluginError(t *testing.T) {
	n := newNode(t, nodeOptions{extraMatchImages: []string{nodeRegistry}})
	good := map[string]json.RawMessage{"dockerconfig": n.dockerConfigSection(nodeRegistry, nodeUser, nodeSecret)}
	img := nodeRegistry + "/team/app"
	steps := []step{
		{
			// The docker config's auth is not base64 (and holds the secret).
			before: func(n *node) {
				n.writePullkeyConfig(good)
				harness.WriteFile(t, n.dir, "docker-config.json",
					fmt.Sprintf(`{"auths":{%q:{"auth":"not base64 %s"}}}`, nodeRegistry, nodeSecret), 0o600)
			},
			image: img, execs: 1,
			errLike: []string{"exit status 1", "dockerconfig", nodeRegistry, "not base64"},
		},
		// Kubelet does not cache errors: the next pod runs pullkey again.
		{image: img, execs: 1, errLike: []string{"exit status 1", "not base64"}},
		{
			// The docker config is readable by others.
			before: func(n *node) {
				n.dockerConfigSection(nodeRegistry, nodeUser, nodeSecret)
				if err := os.Chmod(filepath.Join(n.dir, "docker-config.json"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			image: img, execs: 1, errLike: []string{"exit status 1", "chmod 600"},
		},
		{
			// pullkey's own config has a field it does not know.
			before: func(n *node) {
				n.dockerConfigSection(nodeRegistry, nodeUser, nodeSecret)
				n.writePullkeyConfigRaw("apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nprovidrs: {}\n")
			},
			image: img, execs: 1, errLike: []string{"exit status 1", n.pkConfig, "providrs"},
		},
		{
			// Fixed: the next pull gets credentials, no restart needed.
			before: func(n *node) { n.writePullkeyConfig(good) },
			image:  img, want: []cred{{nodeUser, nodeSecret}}, execs: 1,
		},
	}
	n.runSteps(nil, steps)
	n.assertNoSecretsLogged(steps)
}

// runSteps makes each lookup in order and checks its credentials, plugin
// executions, upstream calls and logged errors.
func (n *node) runSteps(clouds []*runningCloud, steps []step) {
	t := n.t
	for i, s := range steps {
		if s.before != nil {
			s.before(n)
		}
		execs0, errs0 := n.execs(), len(n.klog.errors())
		calls0 := map[string]int64{}
		for _, c := range clouds {
			calls0[c.demo.Provider] = c.demo.Calls.Load()
		}
		pods := max(s.pods, 1)
		got := make([][]cred, pods)
		var wg sync.WaitGroup
		start := time.Now()
		for p := range pods {
			wg.Go(func() { got[p] = n.lookup(s.image) })
		}
		wg.Wait()
		took := time.Since(start)

		where := fmt.Sprintf("step %d (%s)", i, s.image)
		if s.maxWait > 0 && took > s.maxWait {
			t.Errorf("%s: the lookup took %s, want at most %s", where, took.Round(time.Millisecond), s.maxWait)
		}
		switch {
		case s.wantFunc != nil:
			s.want = s.wantFunc()
			steps[i].want = s.want // for assertNoSecretsLogged
		case s.wantSaved != "":
			s.want = n.saved(s.wantSaved)
			steps[i].want = s.want
		}
		if s.save != "" {
			n.save(s.save, got[0])
		}
		t.Logf("%s: %d pod(s) got %s; pullkey executions %d", where, pods, show(got[0]), n.execs()-execs0)
		for p := range pods {
			if !slices.Equal(got[p], s.want) {
				t.Errorf("%s: pod %d got credentials %s, want %s", where, p, show(got[p]), show(s.want))
			}
		}
		if d := n.execs() - execs0; d != s.execs {
			t.Errorf("%s: kubelet executed pullkey %d times, want %d", where, d, s.execs)
		}
		for _, c := range clouds {
			p := c.demo.Provider
			if d := c.demo.Calls.Load() - calls0[p]; d != s.calls[p] {
				t.Errorf("%s: %s stand-in called %d times, want %d", where, p, d, s.calls[p])
			}
		}
		n.checkErrors(where, n.klog.errors()[errs0:], s.errLike)
	}
}

// maxStderr bounds pullkey's error line as kubelet logs it: one line that
// names the cause and the fix (ECR's access-denied advice, with the IAM
// command, is about 500 bytes).
const maxStderr = 1024

// checkErrors checks the errors kubelet logged during one lookup: none
// unless errLike is set, else one per plugin execution, each naming the
// image and holding every errLike piece, with pullkey's stderr one short
// line.
func (n *node) checkErrors(where string, errs []klogEntry, errLike []string) {
	t := n.t
	if len(errLike) == 0 {
		for _, e := range errs {
			t.Errorf("%s: kubelet logged an error: %s", where, e)
		}
		return
	}
	if len(errs) == 0 {
		t.Errorf("%s: kubelet logged no plugin error, want one like %q", where, errLike)
		return
	}
	for _, e := range errs {
		msg := e.Err.Error()
		for _, piece := range errLike {
			if !strings.Contains(msg, piece) {
				t.Errorf("%s: kubelet's error %q does not contain %q", where, msg, piece)
			}
		}
		// kubelet appends the plugin's stderr after "exit status 1: ".
		_, stderr, ok := strings.Cut(msg, "exit status 1: ")
		if !ok {
			t.Errorf("%s: kubelet's error %q carries no plugin stderr", where, msg)
			continue
		}
		stderr = strings.TrimSuffix(stderr, "\n")
		if strings.Contains(stderr, "\n") || len(stderr) > maxStderr {
			t.Errorf("%s: pullkey's stderr is not one short line (%d bytes): %q", where, len(stderr), stderr)
		}
		t.Logf("%s: kubelet logged: %s", where, e)
	}
}

// assertNoSecretsLogged fails if any credential the steps expect, or the
// node's docker config secret, appears anywhere in kubelet's log.
func (n *node) assertNoSecretsLogged(steps []step) {
	secrets := []string{nodeSecret}
	for _, s := range steps {
		for _, c := range s.want {
			secrets = append(secrets, c.Password)
		}
	}
	log := n.klog.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			n.t.Errorf("a secret (%d bytes) appears in kubelet's log", len(s))
		}
	}
}

// save keeps credentials under name in the scenario's state directory,
// which the scenario's later kubelet processes share.
func (n *node) save(name string, cs []cred) {
	n.t.Helper()
	all := n.loadSaved()
	all[name] = cs
	b, err := json.Marshal(all)
	if err != nil {
		n.t.Fatal(err)
	}
	harness.WriteFile(n.t, stateDir(n.t), "saved-credentials.json", string(b), 0o600)
}

// saved returns the credentials an earlier kubelet process saved as name.
func (n *node) saved(name string) []cred {
	n.t.Helper()
	cs, ok := n.loadSaved()[name]
	if !ok {
		n.t.Fatalf("no credentials saved as %q by an earlier kubelet process", name)
	}
	return cs
}

func (n *node) loadSaved() map[string][]cred {
	n.t.Helper()
	all := map[string][]cred{}
	b, err := os.ReadFile(filepath.Join(stateDir(n.t), "saved-credentials.json"))
	if errors.Is(err, os.ErrNotExist) {
		return all
	}
	if err == nil {
		err = json.Unmarshal(b, &all)
	}
	if err != nil {
		n.t.Fatal(err)
	}
	return all
}

// dockerConfigSection writes a docker config.json (0600) on the node with
// one registry's credentials and returns pullkey's dockerconfig section
// that reads it.
func (n *node) dockerConfigSection(registry, user, password string) json.RawMessage {
	n.t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	p := harness.WriteFile(n.t, n.dir, "docker-config.json",
		fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, registry, auth), 0o600)
	b, _ := json.Marshal(map[string]string{"path": p})
	return b
}

// show prints credentials for a failure message without their secrets.
func show(cs []cred) string {
	if cs == nil {
		return "none"
	}
	var parts []string
	for _, c := range cs {
		sum := sha256.Sum256([]byte(c.Password))
		parts = append(parts, fmt.Sprintf("%s:<%d-byte password sha256:%x>", c.Username, len(c.Password), sum[:4]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// runningCloud is a started stand-in and the lookups the suite makes
// against it.
type runningCloud struct {
	demo                *standin.Demo
	steps, afterRestart func(d *standin.Demo) []step
}

// startClouds starts every stand-in in clouds behind one MITM proxy and
// returns them with the environment pullkey needs to reach them (set
// through the CredentialProviderConfig's env, as a node would).
func startClouds(t *testing.T) ([]*runningCloud, []string) {
	var running []*runningCloud
	var demos []*standin.Demo
	for _, c := range clouds {
		d := c.start(t)
		if d.Close != nil {
			t.Cleanup(d.Close)
		}
		running = append(running, &runningCloud{demo: d, steps: c.steps, afterRestart: c.afterRestart})
		demos = append(demos, d)
	}
	// The proxy answers 502 for any host no stand-in plays, so nothing
	// pullkey asks for leaves the machine.
	proxy := harness.StartProxy(t, standin.Router(demos))
	env := proxy.Env()
	for _, d := range demos {
		env = append(env, d.Env...)
	}
	return running, env
}
