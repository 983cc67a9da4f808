package installer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeletv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"
)

// Kubelet's API versions and kinds, as kubelet v1.37 accepts them.
const (
	ConfigAPIVersion = "kubelet.config.k8s.io/v1"
	ConfigKind       = "CredentialProviderConfig"
	PluginAPIVersion = "credentialprovider.kubelet.k8s.io/v1"
)

var (
	configAPIVersions = []string{"kubelet.config.k8s.io/v1", "kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1alpha1"}
	pluginAPIVersions = []string{"credentialprovider.kubelet.k8s.io/v1", "credentialprovider.kubelet.k8s.io/v1beta1", "credentialprovider.kubelet.k8s.io/v1alpha1"}
)

// Entry is pullkey's provider entry in a CredentialProviderConfig.
type Entry struct {
	// Name is the plugin's file name in the bin dir.
	Name                 string
	MatchImages          []string
	DefaultCacheDuration time.Duration
	// PullkeyConfig is the node path passed as --config.
	PullkeyConfig string
}

func (e Entry) object() map[string]any {
	var images []any
	for _, m := range e.MatchImages {
		images = append(images, m)
	}
	return map[string]any{
		"name":                 e.Name,
		"matchImages":          images,
		"defaultCacheDuration": metav1.Duration{Duration: e.DefaultCacheDuration}.Duration.String(),
		"apiVersion":           PluginAPIVersion,
		"args":                 []any{"get-credentials", "--config", e.PullkeyConfig},
	}
}

// document is a CredentialProviderConfig kept as generic data, so that
// entries and fields pullkey does not own survive a merge untouched.
type document struct {
	obj  map[string]any
	json bool // written back as JSON (else YAML)
}

// parseDocument decodes YAML or JSON into generic data and validates it.
func parseDocument(name string, b []byte) (document, error) {
	trimmed := bytes.TrimSpace(b)
	isJSON := len(trimmed) > 0 && trimmed[0] == '{'
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return document{}, fmt.Errorf("%s: not valid YAML or JSON: %w", name, err)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return document{}, fmt.Errorf("%s: not a CredentialProviderConfig object", name)
	}
	doc := document{obj: obj, json: isJSON}
	if _, err := doc.validate(); err != nil {
		return document{}, fmt.Errorf("%s: %w", name, err)
	}
	return doc, nil
}

func newDocument(asJSON bool) document {
	return document{obj: map[string]any{
		"apiVersion": ConfigAPIVersion,
		"kind":       ConfigKind,
		"providers":  []any{},
	}, json: asJSON}
}

func (d document) providers() []any {
	ps, _ := d.obj["providers"].([]any)
	return ps
}

// withEntry returns a copy of d with the provider named e.Name replaced by
// e (in place) or appended.
func (d document) withEntry(e Entry) document {
	ps := slices.Clone(d.providers())
	i := indexOf(ps, e.Name)
	if i >= 0 {
		ps[i] = e.object()
	} else {
		ps = append(ps, e.object())
	}
	return d.with(ps)
}

// without returns a copy of d without the provider named name.
func (d document) without(name string) document {
	ps := slices.Clone(d.providers())
	if i := indexOf(ps, name); i >= 0 {
		ps = slices.Delete(ps, i, i+1)
	}
	return d.with(ps)
}

func (d document) with(ps []any) document {
	obj := make(map[string]any, len(d.obj))
	for k, v := range d.obj {
		obj[k] = v
	}
	obj["providers"] = ps
	return document{obj: obj, json: d.json}
}

func indexOf(ps []any, name string) int {
	for i, p := range ps {
		if m, ok := p.(map[string]any); ok && m["name"] == name {
			return i
		}
	}
	return -1
}

// equal compares two documents as data (formatting and key order aside).
func (d document) equal(o document) bool {
	a, err1 := json.Marshal(d.obj)
	b, err2 := json.Marshal(o.obj)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// encode writes the document with keys in kubelet's documentation order
// (name first in each provider), other keys sorted.
func (d document) encode() ([]byte, error) {
	o := ordered(d.obj, topOrder).(object)
	if d.json {
		j, err := json.MarshalIndent(o, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(j, '\n'), nil
	}
	return yamlv2.Marshal(o.mapSlice())
}

// validate decodes the document strictly into kubelet's own types and
// applies the checks kubelet makes when it loads the file: at least one
// provider; names unique, non-empty, plain file names; apiVersion one
// kubelet speaks; at least one matchImages entry, each parseable;
// defaultCacheDuration set and not negative; tokenAttributes complete.
func (d document) validate() (*kubeletv1.CredentialProviderConfig, error) {
	j, err := json.Marshal(d.obj)
	if err != nil {
		return nil, err
	}
	var cfg kubeletv1.CredentialProviderConfig
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("not a valid CredentialProviderConfig: %w", err)
	}
	if !slices.Contains(configAPIVersions, cfg.APIVersion) {
		return nil, fmt.Errorf("apiVersion %q, want %s", cfg.APIVersion, ConfigAPIVersion)
	}
	if cfg.Kind != ConfigKind {
		return nil, fmt.Errorf("kind %q, want %s", cfg.Kind, ConfigKind)
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("providers: at least one provider is required")
	}
	return &cfg, validateProviders(cfg.Providers, map[string]bool{})
}

// validateProviders checks providers, whose names must also not be in seen
// (names from other files of a config directory); it adds them to seen.
func validateProviders(ps []kubeletv1.CredentialProvider, seen map[string]bool) error {
	var errs []error
	for i, p := range ps {
		at := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "": // kubelet would fail later, looking up the binary
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		case strings.ContainsAny(p.Name, "/ ") || p.Name == "." || p.Name == "..":
			errs = append(errs, fmt.Errorf("%s.name %q: must be a plain file name", at, p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("%s.name %q: duplicate provider name", at, p.Name))
		}
		seen[p.Name] = true
		if !slices.Contains(pluginAPIVersions, p.APIVersion) {
			errs = append(errs, fmt.Errorf("%s.apiVersion %q: want one of %s", at, p.APIVersion, strings.Join(pluginAPIVersions, ", ")))
		}
		if len(p.MatchImages) == 0 {
			errs = append(errs, fmt.Errorf("%s.matchImages: at least one entry is required", at))
		}
		for _, m := range p.MatchImages {
			if err := checkMatchImage(m); err != nil {
				errs = append(errs, fmt.Errorf("%s.matchImages %q: %w", at, m, err))
			}
		}
		if p.DefaultCacheDuration == nil {
			errs = append(errs, fmt.Errorf("%s.defaultCacheDuration: required", at))
		} else if p.DefaultCacheDuration.Duration < 0 {
			errs = append(errs, fmt.Errorf("%s.defaultCacheDuration: must not be negative", at))
		}
		if t := p.TokenAttributes; t != nil {
			if t.ServiceAccountTokenAudience == "" {
				errs = append(errs, fmt.Errorf("%s.tokenAttributes.serviceAccountTokenAudience: required", at))
			}
			if t.RequireServiceAccount == nil {
				errs = append(errs, fmt.Errorf("%s.tokenAttributes.requireServiceAccount: required", at))
			}
			if t.CacheType != kubeletv1.TokenServiceAccountTokenCacheType && t.CacheType != kubeletv1.ServiceAccountServiceAccountTokenCacheType {
				errs = append(errs, fmt.Errorf("%s.tokenAttributes.cacheType %q: want Token or ServiceAccount", at, t.CacheType))
			}
			if p.APIVersion != PluginAPIVersion {
				errs = append(errs, fmt.Errorf("%s.tokenAttributes: only supported with apiVersion %s", at, PluginAPIVersion))
			}
			if t.RequireServiceAccount != nil && !*t.RequireServiceAccount && len(t.RequiredServiceAccountAnnotationKeys) > 0 {
				errs = append(errs, fmt.Errorf("%s.tokenAttributes.requiredServiceAccountAnnotationKeys: requireServiceAccount cannot be false when it is set", at))
			}
			errs = append(errs, checkAnnotationKeys(at+".tokenAttributes.requiredServiceAccountAnnotationKeys", t.RequiredServiceAccountAnnotationKeys)...)
			errs = append(errs, checkAnnotationKeys(at+".tokenAttributes.optionalServiceAccountAnnotationKeys", t.OptionalServiceAccountAnnotationKeys)...)
			for _, k := range t.RequiredServiceAccountAnnotationKeys {
				if slices.Contains(t.OptionalServiceAccountAnnotationKeys, k) {
					errs = append(errs, fmt.Errorf("%s.tokenAttributes: annotation key %q is both required and optional", at, k))
				}
			}
		}
	}
	return joinLine(errs)
}

// joinLine joins errors into one line ("a; b"): the installer's errors end
// up as one line on stderr.
func joinLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// checkAnnotationKeys applies kubelet's rule to service account annotation
// keys: qualified names (case aside), each once.
func checkAnnotationKeys(at string, keys []string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, k := range keys {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, fmt.Errorf("%s %q: %s", at, k, msg))
		}
		if seen[k] {
			errs = append(errs, fmt.Errorf("%s %q: duplicate", at, k))
		}
		seen[k] = true
	}
	return errs
}

// checkMatchImage parses a matchImages entry the way kubelet does: as a URL
// once "https://" is put in front of it.
func checkMatchImage(m string) error {
	if _, err := url.Parse("https://" + m); err != nil {
		return errors.New("not a host[:port][/path] pattern")
	}
	return nil
}

// entryOf returns the provider entry called name, if any.
func entryOf(cfg *kubeletv1.CredentialProviderConfig, name string) (kubeletv1.CredentialProvider, bool) {
	for _, p := range cfg.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return kubeletv1.CredentialProvider{}, false
}

// RenderConfig returns a CredentialProviderConfig holding only e, as YAML
// or JSON, validated: the shipped deploy/kubelet files are made with it.
func RenderConfig(e Entry, asJSON bool) ([]byte, error) {
	doc := newDocument(asJSON).withEntry(e)
	if _, err := doc.validate(); err != nil {
		return nil, err
	}
	return doc.encode()
}

// ValidateConfig decodes a CredentialProviderConfig file strictly and
// applies kubelet's checks.
func ValidateConfig(name string, b []byte) error {
	_, err := parseDocument(name, b)
	return err
}
