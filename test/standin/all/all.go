// Package all lists every stand-in that `make demo` and `make bench` run,
// in the order pullkey asks its providers.
package all

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
	"github.com/pullkey/pullkey/test/standin/acr"
	"github.com/pullkey/pullkey/test/standin/ecr"
	"github.com/pullkey/pullkey/test/standin/github"
)

// Constructors start each provider's stand-in on a throwaway node in dir.
var Constructors = []func(dir string) (*standin.Demo, error){
	DockerConfig,
	ecr.NewDemo,
	acr.NewDemo,
	github.NewDemo,
}

// DockerConfig is the provider that needs no cloud: a docker config held by
// root on the node.
func DockerConfig(node string) (*standin.Demo, error) {
	path := filepath.Join(node, "etc/pullkey/docker-config.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	auth := base64.StdEncoding.EncodeToString([]byte("robot:registry-password-123"))
	if err := os.WriteFile(path, []byte(`{"auths":{"registry.example.com":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(map[string]string{"path": path})
	return &standin.Demo{
		Provider: "dockerconfig",
		Config:   cfg,
		Images:   []string{"registry.example.com/team/app"},
		Close:    func() {},
	}, nil
}

// Node is a throwaway node with every stand-in running.
type Node struct {
	Dir        string
	Demos      []*standin.Demo
	ConfigPath string   // pullkey's config enabling every demo's provider
	CacheDir   string   // the config's cache dir
	Env        []string // pullkey's environment (proxy, CA, endpoints)
	// Proxied counts requests that reached the stand-ins through the proxy.
	Proxied atomic.Int64
	closers []func()
}

// Close stops every stand-in and the proxy.
func (n *Node) Close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
}

// Start lays out a node in dir, runs every stand-in and a shared MITM
// proxy routing to them, and writes a pullkey config enabling their
// providers.
func Start(dir string) (*Node, error) {
	n := &Node{Dir: dir, CacheDir: filepath.Join(dir, "var/lib/pullkey")}
	for _, start := range Constructors {
		d, err := start(dir)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.closers = append(n.closers, d.Close)
		n.Demos = append(n.Demos, d)
	}
	router := standin.Router(n.Demos)
	proxy, err := harness.NewProxy(dir, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Proxied.Add(1)
		router.ServeHTTP(w, r)
	}))
	if err != nil {
		n.Close()
		return nil, err
	}
	n.closers = append(n.closers, proxy.Close)
	sections := map[string]json.RawMessage{}
	var names []string
	n.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, proxy.Env()...)
	for _, d := range n.Demos {
		names = append(names, d.Provider)
		if d.Config != nil {
			sections[d.Provider] = d.Config
		}
		n.Env = append(n.Env, d.Env...)
	}
	b, _ := json.MarshalIndent(map[string]any{
		"apiVersion":       "pullkey.dev/v1alpha1",
		"kind":             "PullkeyConfig",
		"cache":            map[string]any{"dir": n.CacheDir},
		"enabledProviders": names,
		"providers":        sections,
	}, "", "  ")
	n.ConfigPath = filepath.Join(dir, "etc/pullkey/config.yaml")
	if err := os.MkdirAll(filepath.Dir(n.ConfigPath), 0o700); err != nil {
		n.Close()
		return nil, err
	}
	if err := os.WriteFile(n.ConfigPath, b, 0o600); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}
