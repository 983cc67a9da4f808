package installer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
)

// asRoot skips a test that must chown files to another user.
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root (CI runs as root)")
	}
}

// refused checks a run failed with one stderr line naming every want.
func refused(t *testing.T, r harness.Result, want ...string) {
	t.Helper()
	if r.Code != 1 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line", r.Code, r.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr %q does not name %q", r.Stderr, w)
		}
	}
}

// TestInstallRefusesUnsafeExistingFiles: a file kubelet reads as root that
// others can edit is refused, not rewritten (and kept editable).
func TestInstallRefusesUnsafeExistingFiles(t *testing.T) {
	const eksDir = "etc/eks/image-credential-provider"
	tests := []struct {
		name string
		// file is the existing node file (under root), made with mode.
		file, content string
		mode          fs.FileMode
		chown         bool
		args          []string
		want          []string
	}{
		{"world-writable kubelet config", eksDir + "/config.json", eksConfig, 0o666, false,
			[]string{"--platform", "eks"}, []string{"config.json", "writable by group or others", "chmod go-w"}},
		{"group-writable kubelet config", eksDir + "/config.json", eksConfig, 0o664, false,
			[]string{"--platform", "eks"}, []string{"config.json", "chmod go-w"}},
		{"kubelet config owned by another user", eksDir + "/config.json", eksConfig, 0o644, true,
			[]string{"--platform", "eks"}, []string{"config.json", "uid 4242", "chown root"}},
		{"world-writable KUBELET_EXTRA_ARGS file", "etc/default/kubelet", "KUBELET_EXTRA_ARGS=--v=2\n", 0o666, false,
			[]string{"--platform", "capi", "--configure-kubelet"}, []string{"etc/default/kubelet", "chmod go-w"}},
		{"KUBELET_EXTRA_ARGS file owned by another user", "etc/default/kubelet", "KUBELET_EXTRA_ARGS=--v=2\n", 0o644, true,
			[]string{"--platform", "capi", "--configure-kubelet"}, []string{"etc/default/kubelet", "chown root"}},
		{"world-writable binary", eksDir + "/pullkey", "#!/bin/sh\n", 0o777, false,
			[]string{"--platform", "eks"}, []string{"pullkey", "chmod go-w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.chown {
				asRoot(t)
			}
			root, pkcfg := newHost(t)
			mkdir(t, filepath.Join(root, filepath.Dir(tt.file)))
			p := harness.WriteFile(t, filepath.Join(root, filepath.Dir(tt.file)), filepath.Base(tt.file), tt.content, tt.mode)
			if tt.chown {
				if err := os.Chown(p, 4242, 4242); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, root)
			r := install(t, append([]string{"--host-root", root, "--pullkey-config-from", pkcfg}, tt.args...)...)
			refused(t, r, tt.want...)
			sameTree(t, "refused install", before, snapshot(t, root), true)
		})
	}
}

func statePath(root string) string { return filepath.Join(root, "var/lib/pullkey/install-state.json") }

// editState rewrites the install state through fn, keeping its mode.
func editState(t *testing.T, root string, fn func(st map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(statePath(root))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	fn(st)
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, filepath.Dir(statePath(root)), filepath.Base(statePath(root)), string(b), 0o600)
}

// stateRecord returns the state's record for a node path.
func stateRecord(t *testing.T, st map[string]any, path string) map[string]any {
	t.Helper()
	for _, f := range st["files"].([]any) {
		if rec := f.(map[string]any); rec["path"] == path {
			return rec
		}
	}
	t.Fatalf("no record for %s in the state", path)
	return nil
}

// TestUninstallRefusesUntrustedState: uninstall deletes and rewrites what
// the state names, so a state others could have written, or one naming
// paths install would not have written, is refused untouched.
func TestUninstallRefusesUntrustedState(t *testing.T) {
	const config = "/etc/eks/image-credential-provider/config.json"
	tests := []struct {
		name   string
		root   bool
		tamper func(t *testing.T, root string)
		want   []string
	}{
		{"state readable by others", false, func(t *testing.T, root string) {
			if err := os.Chmod(statePath(root), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"install-state.json", "chmod 600"}},
		{"state owned by another user", true, func(t *testing.T, root string) {
			if err := os.Chown(statePath(root), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, []string{"install-state.json", "chown root"}},
		{"state directory writable by others", false, func(t *testing.T, root string) {
			if err := os.Chmod(filepath.Dir(statePath(root)), 0o777); err != nil {
				t.Fatal(err)
			}
		}, []string{"var/lib/pullkey", "writable by group or others"}},
		{"path through a symlink to another file", false, func(t *testing.T, root string) {
			// /etc/victim -> /var/lib/victim: install would record the
			// resolved path, never one through a link.
			mkdir(t, filepath.Join(root, "var/lib/victim"))
			v := harness.WriteFile(t, filepath.Join(root, "var/lib/victim"), "data", "precious", 0o644)
			if err := os.Symlink("/var/lib/victim", filepath.Join(root, "etc/victim")); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(v)
			editState(t, root, func(st map[string]any) {
				st["files"] = append(st["files"].([]any), map[string]any{
					"path": "/etc/victim/data", "role": "pullkey-config", "created": true, "installedSHA256": sha(b)})
			})
		}, []string{"/etc/victim/data", "resolves to /var/lib/victim/data"}},
		{"relative path", false, func(t *testing.T, root string) {
			editState(t, root, func(st map[string]any) {
				st["createdDirs"] = append(st["createdDirs"].([]any), "etc/../..")
			})
		}, []string{"etc/../..", "not a clean absolute node path"}},
		{"unknown role", false, func(t *testing.T, root string) {
			editState(t, root, func(st map[string]any) { stateRecord(t, st, config)["role"] = "anything" })
		}, []string{"unknown role", "config.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				asRoot(t)
			}
			root, pkcfg, _ := eksHost(t)
			mustOK(t, install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg))
			tt.tamper(t, root)
			before := snapshot(t, root)
			refused(t, uninstall(t, root), tt.want...)
			sameTree(t, "refused uninstall", before, snapshot(t, root), true)
		})
	}
}

// TestUninstallMasksRecordedMode: a prior mode in the state never makes a
// restored file setuid or writable by others.
func TestUninstallMasksRecordedMode(t *testing.T) {
	root, pkcfg, config := eksHost(t)
	mustOK(t, install(t, "--host-root", root, "--platform", "eks", "--pullkey-config-from", pkcfg))
	editState(t, root, func(st map[string]any) {
		stateRecord(t, st, "/etc/eks/image-credential-provider/config.json")["priorMode"] = uint32(fs.ModeSetuid | 0o777)
	})
	mustOK(t, uninstall(t, root))
	if b, _ := os.ReadFile(config); string(b) != eksConfig {
		t.Errorf("config not restored:\n%s", b)
	}
	if m := fileMode(t, config); m != 0o755 {
		t.Errorf("restored mode %v, want 0755 (setuid and go-w dropped)", m)
	}
}

// TestInstallKeepsNoPriorSecret: a secret file that existed before install
// is replaced, its earlier content is kept nowhere, and uninstall leaves
// the node's file alone and says so.
func TestInstallKeepsNoPriorSecret(t *testing.T) {
	const old = "ghp_previous_secret_value"
	root, pkcfg := newHost(t)
	mkdir(t, filepath.Join(root, "etc/pullkey"))
	p := harness.WriteFile(t, filepath.Join(root, "etc/pullkey"), "ghcr-token", old, 0o600)
	src := harness.WriteFile(t, t.TempDir(), "token", "ghp_example", 0o600)
	args := []string{"--host-root", root, "--pullkey-config-from", pkcfg, "--secret-file", src + "=/etc/pullkey/ghcr-token"}
	noOldSecret := func(what string) {
		t.Helper()
		b, err := os.ReadFile(statePath(root))
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, old) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(old))) {
			t.Errorf("%s: the install state keeps the earlier secret:\n%s", what, s)
		}
	}
	mustOK(t, install(t, args...))
	if b, _ := os.ReadFile(p); string(b) != "ghp_example" {
		t.Errorf("secret content %q", b)
	}
	noOldSecret("install")

	// A state from an earlier version that kept it drops it on reinstall.
	editState(t, root, func(st map[string]any) {
		stateRecord(t, st, "/etc/pullkey/ghcr-token")["prior"] = base64.StdEncoding.EncodeToString([]byte(old))
	})
	mustOK(t, install(t, args...))
	noOldSecret("reinstall")

	r := uninstall(t, root)
	mustOK(t, r)
	if b, _ := os.ReadFile(p); string(b) != "ghp_example" {
		t.Errorf("after uninstall the secret is %q, want the node's current file left alone", b)
	}
	if !strings.Contains(r.Stdout, "left secret /etc/pullkey/ghcr-token in place") || strings.Contains(r.Stdout+r.Stderr, "ghp_") {
		t.Errorf("uninstall said %q", r.Stdout)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
