package e2e

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
)

var update = flag.Bool("update", false, "rewrite golden response files")

// coreNode is a throwaway node: a docker config held by root with mode 0600,
// and a pullkey config that enables the dockerconfig provider only (so no
// test ever reaches a real cloud).
func coreNode(t *testing.T) (configPath string, env []string) {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cr3t-registry-pw"))
	dockerCfg := harness.WriteFile(t, dir, "config.json",
		`{"auths":{"registry.example.com":{"auth":"`+auth+`"},"localhost:5000":{"username":"dev","password":"local-pw"}}}`, 0o600)
	configPath = harness.WriteFile(t, dir, "pullkey.yaml", fmt.Sprintf(`apiVersion: pullkey.dev/v1alpha1
kind: PullkeyConfig
enabledProviders: [dockerconfig]
cache:
  dir: %s
providers:
  dockerconfig:
    path: %s
`, filepath.Join(dir, "cache"), dockerCfg), 0o600)
	return configPath, nil
}

// TestGolden runs each testdata/golden/NAME.request through the binary and
// compares stdout with NAME.response (or, for a malformed request, checks
// exit code 1, empty stdout and NAME.stderr's text in the one stderr line).
func TestGolden(t *testing.T) {
	cfg, env := coreNode(t)
	requests, _ := filepath.Glob("testdata/golden/*.request")
	if len(requests) < 10 {
		t.Fatalf("only %d golden requests", len(requests))
	}
	for _, reqFile := range requests {
		name := strings.TrimSuffix(filepath.Base(reqFile), ".request")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(reqFile)
			if err != nil {
				t.Fatal(err)
			}
			res := harness.Run(t, env, string(in), "--config", cfg)
			base := strings.TrimSuffix(reqFile, ".request")
			if want, err := os.ReadFile(base + ".stderr"); err == nil {
				if res.Code != 1 || res.Stdout != "" {
					t.Fatalf("exit %d stdout %q; want exit 1 and no stdout", res.Code, res.Stdout)
				}
				lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], strings.TrimSpace(string(want))) {
					t.Fatalf("stderr %q; want one line containing %q", res.Stderr, want)
				}
				return
			}
			if res.Code != 0 {
				t.Fatalf("exit %d: %s", res.Code, res.Stderr)
			}
			res.Decode(t) // strict decode of the wire format
			if *update {
				os.WriteFile(base+".response", []byte(res.Stdout), 0o644)
			}
			want, err := os.ReadFile(base + ".response")
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != string(want) {
				t.Fatalf("response\n got %s\nwant %s", res.Stdout, want)
			}
		})
	}
}

func TestSecretsNeverOnStderr(t *testing.T) {
	cfg, env := coreNode(t)
	for _, args := range [][]string{{"--config", cfg, "-v"}, {"--config", cfg, "--log-level", "debug", "--no-cache"}} {
		res := harness.Run(t, env, harness.Request("registry.example.com/team/app"), args...)
		resp := res.Decode(t)
		if resp.Auth["registry.example.com"].Password != "s3cr3t-registry-pw" {
			t.Fatalf("wrong answer %+v", resp)
		}
		if strings.Contains(res.Stderr, "s3cr3t") || !strings.Contains(res.Stderr, "credential ready") {
			t.Fatalf("stderr at debug level:\n%s", res.Stderr)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	loose := harness.WriteFile(t, dir, "loose.json", `{"auths":{}}`, 0o644)
	tests := []struct{ name, config, want string }{
		{"unknown top-level field", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\ncacheDirectory: /x\n", `unknown field "cacheDirectory"`},
		{"wrong apiVersion", "apiVersion: v2\nkind: PullkeyConfig\n", `apiVersion "v2"`},
		{"wrong kind", "apiVersion: pullkey.dev/v1alpha1\nkind: Config\n", `kind "Config"`},
		{"unknown provider", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nproviders:\n  quay: {}\n", "providers.quay: unknown provider"},
		{"provider field", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nproviders:\n  dockerconfig:\n    file: /x\n", `providers.dockerconfig: unknown field "file"`},
		{"bad timeout", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\ntimeout: 2m\n", "timeout 2m0s"},
		{"not yaml", "apiVersion: [", "not valid YAML"},
		{"readable docker config", "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nproviders:\n  dockerconfig:\n    path: " + loose + "\n", "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := harness.WriteFile(t, t.TempDir(), "c.yaml", tt.config, 0o600)
			res := harness.Run(t, nil, harness.Request("registry.example.com/x"), "--config", cfg)
			if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, tt.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
				t.Fatalf("exit %d stdout %q stderr %q; want exit 1, one line with %q", res.Code, res.Stdout, res.Stderr, tt.want)
			}
		})
	}
	if res := harness.Run(t, nil, "", "--config", filepath.Join(dir, "missing.yaml")); res.Code != 1 || !strings.Contains(res.Stderr, "no such file") {
		t.Fatalf("missing config: %+v", res)
	}
}

func TestCommandLine(t *testing.T) {
	cfg, _ := coreNode(t)
	if res := harness.Run(t, nil, "", "--help"); res.Code != 0 || !strings.Contains(res.Stdout, "--cache-dir") || !strings.Contains(res.Stdout, "kubelet") {
		t.Fatalf("--help: %+v", res)
	}
	if res := harness.Run(t, nil, "", "version"); res.Code != 0 || !strings.HasPrefix(res.Stdout, "pullkey ") {
		t.Fatalf("version: %+v", res)
	}
	if res := harness.Run(t, nil, "", "--bogus"); res.Code != 2 || res.Stdout != "" || !strings.Contains(res.Stderr, "bogus") {
		t.Fatalf("bad flag: %+v", res)
	}
	// "get-credentials" is the explicit form many configs pass.
	res := harness.Run(t, nil, harness.Request("registry.example.com/x"), "get-credentials", "--config", cfg)
	if resp := res.Decode(t); resp.Auth["registry.example.com"].Username != "robot" {
		t.Fatalf("get-credentials: %+v", resp)
	}
}

func TestUnwritableCacheDirStillAnswers(t *testing.T) {
	cfg, env := coreNode(t)
	blocker := harness.WriteFile(t, t.TempDir(), "not-a-dir", "", 0o600)
	// dockerconfig entries are never disk-cached, so this proves only that
	// a bad --cache-dir is not an error; the cache package tests the rest.
	res := harness.Run(t, env, harness.Request("registry.example.com/x"), "--config", cfg, "--cache-dir", filepath.Join(blocker, "sub"))
	if resp := res.Decode(t); resp.Auth["registry.example.com"].Password == "" {
		t.Fatalf("no answer: %+v", resp)
	}
}

// TestSubcommandHelp: each subcommand explains itself and every flag it
// takes, on stdout, with exit code 0.
func TestSubcommandHelp(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"install":      {"-host-root", "-platform", "-bin-dir", "-provider-config", "-pullkey-config", "-pullkey-config-from", "-secret-file", "-configure-kubelet", "-restart-kubelet", "-dry-run"},
		"uninstall":    {"-host-root", "-restart-kubelet", "-dry-run"},
		"match-images": {"-config", "-o"},
	} {
		res := harness.Run(t, nil, "", cmd, "--help")
		if res.Code != 0 || !strings.HasPrefix(res.Stdout, "Usage: pullkey "+cmd) {
			t.Fatalf("%s --help: exit %d\n%s%s", cmd, res.Code, res.Stdout, res.Stderr)
		}
		for _, f := range flags {
			if !strings.Contains(res.Stdout, "  "+f+" ") && !strings.Contains(res.Stdout, "  "+f+"\n") {
				t.Errorf("%s --help does not explain %s:\n%s", cmd, f, res.Stdout)
			}
		}
	}
}
