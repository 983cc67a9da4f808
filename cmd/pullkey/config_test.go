package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers"
)

func TestParseConfig(t *testing.T) {
	head := "apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\n"
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "minimal", in: head},
		{name: "json", in: `{"apiVersion":"pullkey.dev/v1alpha1","kind":"PullkeyConfig","timeout":"10s"}`},
		{name: "everything", in: head + "timeout: 20s\nlogLevel: info\ncache:\n  dir: /x\n  refreshMargin: 5m\nenabledProviders: [dockerconfig]\nproviders:\n  dockerconfig: {path: /x}\n"},
		{name: "unknown field", in: head + "cacheDir: /x\n", wantErr: `unknown field "cacheDir"`},
		{name: "wrong type", in: head + "cache:\n  disabled: maybe\n", wantErr: "cache.disabled"},
		{name: "bad duration", in: head + "timeout: soon\n", wantErr: "soon"},
		{name: "timeout too long", in: head + "timeout: 60s\n", wantErr: "at most 55s"},
		{name: "negative margin", in: head + "cache:\n  refreshMargin: -1m\n", wantErr: "refreshMargin"},
		{name: "bad level", in: head + "logLevel: loud\n", wantErr: "logLevel"},
		{name: "unknown provider", in: head + "providers:\n  quay: {}\n", wantErr: "providers.quay"},
		{name: "unknown enabled", in: head + "enabledProviders: [quay]\n", wantErr: `enabledProviders: unknown provider "quay"`},
		{name: "twice enabled", in: head + "enabledProviders: [dockerconfig, dockerconfig]\n", wantErr: "listed twice"},
		{name: "no apiVersion", in: "kind: PullkeyConfig\n", wantErr: "apiVersion"},
		{name: "empty", in: "", wantErr: "apiVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCacheDuration(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	margin := 10 * time.Minute
	tests := []struct {
		name  string
		cred  providers.Credential
		scope providers.Scope
		want  time.Duration
	}{
		{"12h token", providers.Credential{ExpiresAt: now.Add(12 * time.Hour)}, providers.Scope{}, 11*time.Hour + 50*time.Minute},
		{"sub-second truncated", providers.Credential{ExpiresAt: now.Add(time.Hour + 1500*time.Millisecond)}, providers.Scope{}, 50*time.Minute + time.Second},
		{"inside the margin", providers.Credential{ExpiresAt: now.Add(5 * time.Minute)}, providers.Scope{}, 0},
		{"expired", providers.Credential{ExpiresAt: now.Add(-time.Hour)}, providers.Scope{}, 0},
		{"unknown expiry uses the TTL", providers.Credential{}, providers.Scope{UnknownExpiryTTL: 5 * time.Minute}, 5 * time.Minute},
		{"unknown expiry, no TTL", providers.Credential{}, providers.Scope{}, 0},
	}
	for _, tt := range tests {
		if got := cacheDuration(tt.scope, tt.cred, now, margin); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := Config{}.settings()
	if s.timeout != 30*time.Second || s.cacheDir != "/var/lib/pullkey" || s.level != "warn" || s.margin != 10*time.Minute {
		t.Fatalf("defaults %+v", s)
	}
}
