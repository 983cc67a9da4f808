package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pullkey/pullkey/cache"
	"github.com/pullkey/pullkey/providers"
)

// BenchmarkRunCacheHit measures pullkey's own work for a cache hit, in
// process: flags, config, provider construction, request decoding, the
// cache read and the response. (Process start and package init are
// measured whole-process by `make bench`.)
func BenchmarkRunCacheHit(b *testing.B) {
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cacheDir := filepath.Join(dir, "cache")
	os.WriteFile(cfgPath, []byte("apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nenabledProviders: [acr]\ncache:\n  dir: "+cacheDir+"\n"), 0o600)
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	set, err := buildProviders(cfg, providers.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	img, _ := providers.ParseImage("myregistry.azurecr.io/web")
	p, scope, ok, err := set.Select(img)
	if err != nil || !ok {
		b.Fatal("acr does not own the image", err)
	}
	// Fill the cache as a previous invocation would have.
	d := cache.NewDisk(cacheDir, cache.DefaultRefreshMargin, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Get(context.Background(), cache.NewKey(append([]string{p.Name()}, scope.CacheKey...)...), func(context.Context) (providers.Credential, error) {
		return providers.Credential{Username: "u", Password: "refresh-token", ExpiresAt: time.Now().Add(3 * time.Hour)}, nil
	})
	req := `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"myregistry.azurecr.io/web"}`
	var out, errb bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), []string{"--config", cfgPath}, strings.NewReader(req), &out, &errb); code != 0 || !strings.Contains(out.String(), "refresh-token") {
			b.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
		}
	}
}
