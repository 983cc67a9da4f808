package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/cache"
	"github.com/pullkey/pullkey/providers"
)

const (
	configAPIVersion = "pullkey.dev/v1alpha1"
	configKind       = "PullkeyConfig"
	maxConfigSize    = 1 << 20
	defaultTimeout   = 30 * time.Second
	maxTimeout       = 55 * time.Second // kubelet kills the plugin at 60 s
)

// Config is pullkey's configuration file (YAML or JSON).
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Timeout bounds one invocation (default 30s, at most 55s).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// LogLevel is debug, info, warn (the default) or error.
	LogLevel string      `json:"logLevel,omitempty"`
	Cache    CacheConfig `json:"cache,omitempty"`
	// EnabledProviders, when set, lists exactly the providers to run, in the
	// order they are asked. By default: dockerconfig, ecr, acr, ghcr, of
	// which ecr and acr run without a section and the others only with one.
	EnabledProviders []string `json:"enabledProviders,omitempty"`
	// Providers holds each provider's own section, keyed by its name.
	Providers map[string]json.RawMessage `json:"providers,omitempty"`
}

// CacheConfig configures the disk cache.
type CacheConfig struct {
	Dir           string           `json:"dir,omitempty"`
	Disabled      bool             `json:"disabled,omitempty"`
	RefreshMargin *metav1.Duration `json:"refreshMargin,omitempty"`
}

// loadConfig reads and strictly decodes a configuration file. An empty path
// gives the defaults.
func loadConfig(path string) (Config, error) {
	if path == "" {
		return Config{APIVersion: configAPIVersion, Kind: configKind}, nil
	}
	b, err := readBounded(path, maxConfigSize)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// parseConfig decodes YAML or JSON strictly and validates it, naming the
// offending field in every error.
func parseConfig(b []byte) (Config, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return Config{}, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("%w", cleanJSONError(err))
	}
	if cfg.APIVersion != configAPIVersion {
		return Config{}, fmt.Errorf("apiVersion %q, want %s", cfg.APIVersion, configAPIVersion)
	}
	if cfg.Kind != configKind {
		return Config{}, fmt.Errorf("kind %q, want %s", cfg.Kind, configKind)
	}
	if cfg.Timeout != nil && (cfg.Timeout.Duration <= 0 || cfg.Timeout.Duration > maxTimeout) {
		return Config{}, fmt.Errorf("timeout %s: must be more than 0 and at most %s", cfg.Timeout.Duration, maxTimeout)
	}
	if cfg.LogLevel != "" {
		if _, err := parseLevel(cfg.LogLevel); err != nil {
			return Config{}, fmt.Errorf("logLevel: %w", err)
		}
	}
	if m := cfg.Cache.RefreshMargin; m != nil && m.Duration < 0 {
		return Config{}, fmt.Errorf("cache.refreshMargin %s: must not be negative", m.Duration)
	}
	known := factoryNames()
	for name := range cfg.Providers {
		if !slices.Contains(known, name) {
			return Config{}, fmt.Errorf("providers.%s: unknown provider (known: %s)", name, strings.Join(known, ", "))
		}
	}
	seen := map[string]bool{}
	for _, name := range cfg.EnabledProviders {
		if !slices.Contains(known, name) {
			return Config{}, fmt.Errorf("enabledProviders: unknown provider %q (known: %s)", name, strings.Join(known, ", "))
		}
		if seen[name] {
			return Config{}, fmt.Errorf("enabledProviders: %q listed twice", name)
		}
		seen[name] = true
	}
	return cfg, nil
}

func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%s: wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	return err
}

// buildProviders constructs the enabled providers in order.
func buildProviders(cfg Config, env providers.Env) (providers.Set, error) {
	names := cfg.EnabledProviders
	if names == nil {
		for _, f := range factories {
			if _, configured := cfg.Providers[f.Name]; f.OnByDefault || configured {
				names = append(names, f.Name)
			}
		}
	}
	var set providers.Set
	for _, name := range names {
		f := factoryByName(name)
		p, err := f.New(cfg.Providers[name], env)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", name, err)
		}
		set = append(set, p)
	}
	return set, nil
}

func factoryNames() []string {
	var names []string
	for _, f := range factories {
		names = append(names, f.Name)
	}
	return names
}

func factoryByName(name string) providers.Factory {
	for _, f := range factories {
		if f.Name == name {
			return f
		}
	}
	panic("unknown provider " + name) // parseConfig rejected it already
}

// effective settings: flags override the file, the file overrides defaults.
type settings struct {
	timeout  time.Duration
	level    string
	cacheDir string
	noCache  bool
	margin   time.Duration
}

func (c Config) settings() settings {
	s := settings{timeout: defaultTimeout, level: "warn", cacheDir: cache.DefaultDir, margin: cache.DefaultRefreshMargin}
	if c.Timeout != nil {
		s.timeout = c.Timeout.Duration
	}
	if c.LogLevel != "" {
		s.level = c.LogLevel
	}
	if c.Cache.Dir != "" {
		s.cacheDir = c.Cache.Dir
	}
	s.noCache = c.Cache.Disabled
	if c.Cache.RefreshMargin != nil {
		s.margin = c.Cache.RefreshMargin.Duration
	}
	return s
}
