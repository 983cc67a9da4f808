// Package installer puts pullkey on a node: it copies the binary into
// kubelet's credential-provider bin dir, writes pullkey's configuration,
// merges pullkey's entry into kubelet's CredentialProviderConfig (keeping
// every other provider's entry), optionally points kubelet's flags at them
// and restarts kubelet, and records what it did so that Uninstall removes
// exactly that. The node's file system is reached under a host root ("/" on
// the node itself, a hostPath mount such as "/host" from a DaemonSet).
//
// Everything is planned and validated before the first write; a node whose
// existing configuration is invalid, or whose paths are unsafe, is refused
// untouched. Every write is a temp file plus rename, so kubelet never sees a
// partial file. A second run with the same inputs writes nothing.
package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// StatePath is where the installer records what it added (a node path).
const StatePath = "/var/lib/pullkey/install-state.json"

// DefaultName is the plugin's file name, and its provider name in kubelet's
// config.
const DefaultName = "pullkey"

// DefaultCacheDuration is the defaultCacheDuration of pullkey's entry: how
// long kubelet keeps an answer that carries no cacheDuration (pullkey's
// empty answers for images no provider owns).
const DefaultCacheDuration = 5 * time.Minute

const (
	maxConfigSize = 1 << 20
	maxBinarySize = 512 << 20
	stateVersion  = 1
)

// Roles of the files the installer writes.
const (
	roleBinary        = "binary"
	rolePullkeyConfig = "pullkey-config"
	roleProviderFile  = "provider-config"
	roleProviderDir   = "provider-config-dir"
	roleKubeletArgs   = "kubelet-args"
	roleSecretFile    = "secret-file"
)

// Options say what to install where.
type Options struct {
	// HostRoot is where the node's "/" is mounted.
	HostRoot string
	// Platform gives the node paths and how kubelet gets its flags.
	Platform Platform
	// Name is the plugin's file name (DefaultName when empty).
	Name string
	// Binary is the pullkey executable to install.
	Binary []byte
	// PullkeyConfig is pullkey's configuration to write at
	// Platform.PullkeyConfig (mode 0600); nil leaves that file alone.
	PullkeyConfig []byte
	// Files are extra root-only files pullkey's config refers to (a GHCR
	// token, a GitHub App key, a docker config), written mode 0600.
	Files []File
	// MatchImages are the kubelet matchImages the enabled providers claim.
	MatchImages []string
	// DefaultCacheDuration of the entry (see DefaultCacheDuration).
	DefaultCacheDuration time.Duration
	// ConfigureKubelet makes sure kubelet's flags point at the bin dir and
	// config (for platforms whose flags live in KUBELET_EXTRA_ARGS).
	ConfigureKubelet bool
	// Restart, when set, is called once after kubelet's configuration
	// changed (never when nothing did, and never after a failure).
	Restart func(ctx context.Context) error
	// DryRun plans and reports, and writes nothing.
	DryRun bool
}

// File is one extra file to install.
type File struct {
	// Path is the node path.
	Path    string
	Content []byte
}

// Result reports what happened (or, with DryRun, what would).
type Result struct {
	// Changes are one line per file or directory changed.
	Changes []string
	// Notes are things the operator should know (a restart is needed, a
	// file changed since install was left in place, ...).
	Notes []string
	// KubeletConfigChanged is true when kubelet must restart to see it.
	KubeletConfigChanged bool
	Restarted            bool
}

// record is one file in the state file.
type record struct {
	// Path is the resolved node path.
	Path string `json:"path"`
	Role string `json:"role"`
	// Created: the file did not exist before pullkey installed it.
	Created bool `json:"created"`
	// Prior is the content before install (restored by Uninstall when
	// nobody changed the file since); not kept for the binary, nor for a
	// secret file, whose earlier content must not outlive it here.
	Prior     []byte      `json:"prior,omitempty"`
	PriorMode fs.FileMode `json:"priorMode,omitempty"`
	// Installed is the SHA-256 of what pullkey wrote.
	Installed string `json:"installedSHA256"`
	// Provider is pullkey's entry name (provider-config).
	Provider string `json:"provider,omitempty"`
	// Flags are the kubelet flags pullkey added (kubelet-args).
	Flags []string `json:"flags,omitempty"`
}

type state struct {
	Version int      `json:"version"`
	Files   []record `json:"files"`
	// CreatedDirs are node paths pullkey created, outermost first.
	CreatedDirs []string `json:"createdDirs,omitempty"`
}

// write is one planned file write.
type write struct {
	rec     record
	real    string
	content []byte
	mode    fs.FileMode
	changed bool
	what    string
}

// Install plans, validates, then applies the installation.
func Install(ctx context.Context, o Options) (Result, error) {
	h, err := newHost(o.HostRoot)
	if err != nil {
		return Result{}, err
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if len(o.MatchImages) == 0 {
		return Result{}, errors.New("no matchImages: the enabled providers claim no registries; enable a provider in pullkey's config or pass the patterns explicitly")
	}
	p := o.Platform
	for _, path := range []string{p.BinDir, p.ProviderConfig, p.PullkeyConfig} {
		if !filepath.IsAbs(path) {
			return Result{}, fmt.Errorf("path %q must be absolute", path)
		}
	}
	st, stateReal, err := h.loadState()
	if err != nil {
		return Result{}, err
	}

	var writes []*write
	// 1. The binary.
	w, err := h.planFile(filepath.Join(p.BinDir, o.Name), roleBinary, o.Binary, 0o755, maxBinarySize)
	if err != nil {
		return Result{}, fmt.Errorf("bin dir %s: %w", p.BinDir, err)
	}
	w.what = "binary"
	writes = append(writes, w)
	// 2. pullkey's config.
	if o.PullkeyConfig != nil {
		w, err := h.planFile(p.PullkeyConfig, rolePullkeyConfig, o.PullkeyConfig, 0o600, maxConfigSize)
		if err != nil {
			return Result{}, fmt.Errorf("pullkey config %s: %w", p.PullkeyConfig, err)
		}
		w.what = "pullkey config"
		writes = append(writes, w)
	}
	// 2b. Files the config refers to.
	for _, f := range o.Files {
		if !filepath.IsAbs(f.Path) {
			return Result{}, fmt.Errorf("file path %q must be absolute", f.Path)
		}
		w, err := h.planFile(f.Path, roleSecretFile, f.Content, 0o600, maxConfigSize)
		if err != nil {
			return Result{}, fmt.Errorf("file %s: %w", f.Path, err)
		}
		w.what = "file"
		writes = append(writes, w)
	}
	// 3. kubelet's CredentialProviderConfig.
	entry := Entry{Name: o.Name, MatchImages: o.MatchImages, DefaultCacheDuration: o.DefaultCacheDuration, PullkeyConfig: p.PullkeyConfig}
	if p.ProviderConfigIsDir {
		w, err = h.planProviderDir(p.ProviderConfig, entry)
	} else {
		w, err = h.planProviderFile(p.ProviderConfig, entry)
	}
	if err != nil {
		return Result{}, err
	}
	writes = append(writes, w)
	// 4. kubelet's flags.
	var notes []string
	if o.ConfigureKubelet {
		switch p.Flags {
		case FlagsExtraArgs:
			w, err := h.planExtraArgs(p)
			if err != nil {
				return Result{}, err
			}
			writes = append(writes, w)
		default:
			notes = append(notes, fmt.Sprintf("kubelet flags: the %s platform sets %s and %s itself", p.Name, flagConfig, flagBinDir))
		}
	}

	// Record, keeping what an earlier install knew about files' past.
	newState := state{Version: stateVersion, Files: slices.Clone(st.Files), CreatedDirs: slices.Clone(st.CreatedDirs)}
	for _, w := range writes {
		if i := slices.IndexFunc(newState.Files, func(r record) bool { return r.Path == w.rec.Path }); i >= 0 {
			old := newState.Files[i]
			w.rec.Created, w.rec.Prior, w.rec.PriorMode = old.Created, old.Prior, old.PriorMode
			if w.rec.Role == roleSecretFile {
				w.rec.Prior, w.rec.PriorMode = nil, 0
			}
			newState.Files[i] = w.rec
		} else {
			newState.Files = append(newState.Files, w.rec)
		}
	}
	var mkdirs []string
	for _, real := range append(realPaths(writes), stateReal) {
		missing, err := h.checkDirs(filepath.Dir(real))
		if err != nil {
			return Result{}, err
		}
		for _, d := range missing {
			if !slices.Contains(mkdirs, d) {
				mkdirs = append(mkdirs, d)
				newState.CreatedDirs = append(newState.CreatedDirs, h.nodePath(d))
			}
		}
	}
	stateBytes, err := json.MarshalIndent(newState, "", "  ")
	if err != nil {
		return Result{}, err
	}
	stateBytes = append(stateBytes, '\n')
	oldState, _, _, err := readFile(stateReal, maxConfigSize*8)
	if err != nil {
		return Result{}, err
	}

	var res Result
	res.Notes = notes
	for _, d := range mkdirs {
		res.Changes = append(res.Changes, "create directory "+h.nodePath(d))
	}
	for _, w := range writes {
		if w.changed {
			res.Changes = append(res.Changes, fmt.Sprintf("write %s %s", w.what, w.rec.Path))
			if w.rec.Role == roleProviderFile || w.rec.Role == roleProviderDir || w.rec.Role == roleKubeletArgs {
				res.KubeletConfigChanged = true
			}
		}
	}
	stateChanged := !bytes.Equal(oldState, stateBytes)
	if len(res.Changes) == 0 && !stateChanged {
		return res, nil
	}
	if stateChanged {
		res.Changes = append(res.Changes, "write install state "+h.nodePath(stateReal))
	}
	if o.DryRun {
		return res, nil
	}

	// Apply: directories, the state (first, so an interrupted install can
	// still be undone), then the files.
	for _, d := range mkdirs {
		mode := fs.FileMode(0o755)
		if d == filepath.Dir(stateReal) {
			mode = 0o700
		}
		if err := os.Mkdir(d, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return res, err
		}
	}
	if stateChanged {
		if err := writeAtomic(stateReal, stateBytes, 0o600); err != nil {
			return res, fmt.Errorf("install state: %w", err)
		}
	}
	for _, w := range writes {
		if !w.changed {
			continue
		}
		if err := writeAtomic(w.real, w.content, w.mode); err != nil {
			return res, fmt.Errorf("%s %s: %w", w.what, w.rec.Path, err)
		}
	}
	return res, restart(ctx, o.Restart, &res)
}

func restart(ctx context.Context, fn func(context.Context) error, res *Result) error {
	if !res.KubeletConfigChanged {
		return nil
	}
	if fn == nil {
		res.Notes = append(res.Notes, "kubelet reads its credential-provider config at start: restart kubelet (or rerun with --restart-kubelet) to apply it")
		return nil
	}
	if err := fn(ctx); err != nil {
		return fmt.Errorf("restart kubelet: %w (the files are in place; restart kubelet by hand)", err)
	}
	res.Restarted = true
	return nil
}

func realPaths(ws []*write) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.real)
	}
	return out
}

func newHost(root string) (host, error) {
	if root == "" {
		root = "/"
	}
	if !filepath.IsAbs(root) {
		abs, err := filepath.Abs(root)
		if err != nil {
			return host{}, err
		}
		root = abs
	}
	fi, err := os.Stat(root)
	if err != nil {
		return host{}, fmt.Errorf("host root: %w", err)
	}
	if !fi.IsDir() {
		return host{}, fmt.Errorf("host root %s is not a directory", root)
	}
	return host{Root: filepath.Clean(root)}, nil
}

// nodePath turns a resolved path back into the node's view.
func (h host) nodePath(real string) string {
	rel, err := filepath.Rel(h.Root, real)
	if err != nil || rel == "." {
		return "/"
	}
	return "/" + filepath.ToSlash(rel)
}

func (h host) loadState() (state, string, error) {
	real, err := h.resolve(StatePath)
	if err != nil {
		return state{}, "", err
	}
	// Uninstall deletes and rewrites what the state names: only a state
	// that nobody but root could have written is trusted.
	if _, err := h.checkDirs(filepath.Dir(real)); err != nil {
		return state{}, "", fmt.Errorf("install state: %w", err)
	}
	b, fi, ok, err := readFileInfo(real, maxConfigSize*8)
	if err != nil || !ok {
		return state{}, real, err
	}
	if err := stateFileSafe(real, fi); err != nil {
		return state{}, "", err
	}
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.Version != stateVersion {
		return state{}, "", fmt.Errorf("install state %s is unreadable (version %d); move it away to start afresh", StatePath, st.Version)
	}
	if err := h.checkState(st); err != nil {
		return state{}, "", fmt.Errorf("install state %s: %w; move it away and undo the install by hand", StatePath, err)
	}
	return st, real, nil
}

// stateFileSafe: the state must be root's (or the installing user's) and
// private, as Install writes it.
func stateFileSafe(real string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("install state %s has mode %04o, not 0600; check its content, run chmod 600 %s, then rerun", real, fi.Mode().Perm(), real)
	}
	if uid, ok := foreignOwner(fi); ok {
		return fmt.Errorf("install state %s is owned by uid %d, not root; check its content, run chown root %s, then rerun", real, uid, real)
	}
	return nil
}

// checkState checks every path the state names resolves, as Install
// resolves paths, to itself inside the host root, and every role is known.
func (h host) checkState(st state) error {
	paths := slices.Clone(st.CreatedDirs)
	for _, r := range st.Files {
		switch r.Role {
		case roleBinary, rolePullkeyConfig, roleProviderFile, roleProviderDir, roleKubeletArgs, roleSecretFile:
		default:
			return fmt.Errorf("unknown role %q for %s", r.Role, r.Path)
		}
		paths = append(paths, r.Path)
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			return fmt.Errorf("path %q is not a clean absolute node path", p)
		}
		real, err := h.resolve(p)
		if err != nil {
			return err
		}
		if h.nodePath(real) != p {
			return fmt.Errorf("path %s now resolves to %s", p, h.nodePath(real))
		}
	}
	return nil
}

// planFile plans writing content at a node path.
func (h host) planFile(path, role string, content []byte, mode fs.FileMode, limit int64) (*write, error) {
	real, err := h.resolve(path)
	if err != nil {
		return nil, err
	}
	if _, err := h.checkDirs(filepath.Dir(real)); err != nil {
		return nil, err
	}
	old, fi, existed, err := readFileInfo(real, limit)
	if err != nil {
		return nil, err
	}
	var oldMode fs.FileMode
	if existed {
		if err := fileSafe(real, fi); err != nil {
			return nil, err
		}
		oldMode = fi.Mode().Perm()
	}
	mode = safeMode(mode)
	w := &write{real: real, content: content, mode: mode}
	w.rec = record{Path: h.nodePath(real), Role: role, Created: !existed, Installed: digest(content)}
	if existed && role != roleBinary && role != roleSecretFile {
		w.rec.Prior, w.rec.PriorMode = old, oldMode
	}
	w.changed = !existed || !bytes.Equal(old, content) || oldMode != mode
	return w, nil
}

// planProviderFile merges entry into the CredentialProviderConfig file at
// path (created when missing, as JSON when the name ends in .json).
func (h host) planProviderFile(path string, e Entry) (*write, error) {
	real, err := h.resolve(path)
	if err != nil {
		return nil, err
	}
	old, oldMode, existed, err := readFile(real, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("kubelet config %s: %w", path, err)
	}
	doc := newDocument(strings.HasSuffix(path, ".json"))
	if existed {
		if doc, err = parseDocument(path, old); err != nil {
			return nil, fmt.Errorf("existing kubelet config is invalid, nothing was changed; fix it first: %w", err)
		}
	}
	merged := doc.withEntry(e)
	if _, err := merged.validate(); err != nil {
		return nil, fmt.Errorf("kubelet config %s after merging pullkey would be invalid, nothing was changed: %w", path, err)
	}
	mode := fs.FileMode(0o644)
	if existed {
		mode = oldMode
	}
	content := old
	changed := !existed || !merged.equal(doc)
	if changed {
		if content, err = merged.encode(); err != nil {
			return nil, err
		}
	}
	w, err := h.planFile(path, roleProviderFile, content, mode, maxConfigSize)
	if err != nil {
		return nil, err
	}
	w.changed, w.what = changed, "kubelet credential provider config"
	w.rec.Provider = e.Name
	return w, nil
}

// planProviderDir writes pullkey's own file into a config directory,
// checking it together with the directory's other files.
func (h host) planProviderDir(dir string, e Entry) (*write, error) {
	real, err := h.resolve(dir)
	if err != nil {
		return nil, err
	}
	own := e.Name + ".yaml"
	seen := map[string]bool{}
	entries, err := os.ReadDir(real)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("kubelet config dir %s: %w", dir, err)
	}
	for _, de := range entries {
		name := de.Name()
		ext := filepath.Ext(name)
		if de.IsDir() || name == own || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		b, _, _, err := readFile(filepath.Join(real, name), maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("kubelet config dir %s: %w", dir, err)
		}
		doc, err := parseDocument(filepath.Join(dir, name), b)
		if err != nil {
			return nil, fmt.Errorf("existing kubelet config is invalid, nothing was changed; fix it first: %w", err)
		}
		cfg, _ := doc.validate()
		for _, p := range cfg.Providers {
			if p.Name == e.Name {
				return nil, fmt.Errorf("kubelet config dir %s: %s already has a provider named %s; remove it first, nothing was changed", dir, name, e.Name)
			}
			seen[p.Name] = true
		}
	}
	doc := newDocument(false).withEntry(e)
	cfg, err := doc.validate()
	if err == nil {
		err = validateProviders(cfg.Providers, seen)
	}
	if err != nil {
		return nil, fmt.Errorf("kubelet config dir %s with pullkey would be invalid, nothing was changed: %w", dir, err)
	}
	content, err := doc.encode()
	if err != nil {
		return nil, err
	}
	w, err := h.planFile(filepath.Join(dir, own), roleProviderDir, content, 0o644, maxConfigSize)
	if err != nil {
		return nil, err
	}
	w.what = "kubelet credential provider config"
	w.rec.Provider = e.Name
	return w, nil
}

// Environment files kubeadm's systemd drop-in reads, in order of preference.
var extraArgsFiles = []string{"/etc/default/kubelet", "/etc/sysconfig/kubelet"}

// kubeadmFlagsFile holds the flags kubeadm itself passes to kubelet.
const kubeadmFlagsFile = "/var/lib/kubelet/kubeadm-flags.env"

func (h host) planExtraArgs(p Platform) (*write, error) {
	path := ""
	for _, f := range extraArgsFiles {
		real, err := h.resolve(f)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(real); err == nil {
			path = f
			break
		}
	}
	if path == "" {
		path = extraArgsFiles[0]
		if d, err := h.resolve("/etc/default"); err == nil {
			if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
				if s, err := h.resolve("/etc/sysconfig"); err == nil {
					if _, err := os.Stat(s); err == nil {
						path = extraArgsFiles[1]
					}
				}
			}
		}
	}
	flags := kubeletFlags(p)
	// kubeadm's own flags must not already name another config.
	if real, err := h.resolve(kubeadmFlagsFile); err == nil {
		if b, _, ok, err := readFile(real, maxConfigSize); err == nil && ok {
			_, _, _, args := parseEnvVar(string(b), "KUBELET_KUBEADM_ARGS")
			for _, f := range flags {
				name, want, _ := strings.Cut(f, "=")
				if got, ok := flagValue(args, name); ok && got != want {
					return nil, fmt.Errorf("%s already passes %s=%s; install with that path so pullkey merges into it, nothing was changed", kubeadmFlagsFile, name, got)
				}
			}
		}
	}
	real, err := h.resolve(path)
	if err != nil {
		return nil, err
	}
	old, oldMode, existed, err := readFile(real, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	content, err := setExtraArgs(string(old), flags)
	if err != nil {
		return nil, fmt.Errorf("%s: %w, nothing was changed", path, err)
	}
	mode := fs.FileMode(0o644)
	if existed {
		mode = oldMode
	}
	w, err := h.planFile(path, roleKubeletArgs, []byte(content), mode, maxConfigSize)
	if err != nil {
		return nil, err
	}
	w.what = "kubelet flags"
	w.rec.Flags = flags
	return w, nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadNodeFile reads a node path under hostRoot (bounded, symlinks resolved
// safely); ok is false when it does not exist.
func ReadNodeFile(hostRoot, path string) (b []byte, ok bool, err error) {
	h, err := newHost(hostRoot)
	if err != nil {
		return nil, false, err
	}
	real, err := h.resolve(path)
	if err != nil {
		return nil, false, err
	}
	b, _, ok, err = readFile(real, maxConfigSize)
	return b, ok, err
}
