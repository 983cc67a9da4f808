package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestBuildImage builds the layout and checks the index, each image's
// config, and that the binary for this machine's architecture, taken out of
// its layer, runs "version".
func TestBuildImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "image")
	o := options{repo: "../..", out: out, version: "v9.8.7-test", commit: "abc1234", created: time.Unix(0, 0).UTC()}
	if err := build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	top, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex ||
		tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != o.version {
		t.Fatalf("index.json: %+v", tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("image index has %d manifests, want 2", len(im.Manifests))
	}
	seen := map[string]bool{}
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" || d.MediaType != types.OCIManifestSchema1 {
			t.Fatalf("descriptor %+v", d)
		}
		arch := d.Platform.Architecture
		seen[arch] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != arch || cfg.OS != "linux" ||
			len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pullkey" ||
			cfg.Config.Labels["org.opencontainers.image.version"] != o.version {
			t.Errorf("%s config: arch %s os %s entrypoint %v labels %v", arch, cfg.Architecture, cfg.OS, cfg.Config.Entrypoint, cfg.Config.Labels)
		}
		bin := extract(t, img, arch)
		if arch != runtime.GOARCH {
			continue
		}
		got, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.Contains(string(got), "pullkey v9.8.7-test (commit abc1234)") {
			t.Errorf("%s binary: version said %q, %v", arch, got, err)
		}
	}
	if !seen["amd64"] || !seen["arm64"] {
		t.Errorf("architectures %v", seen)
	}
}

// extract writes the image's /pullkey to a temp file, checking that the
// image holds exactly one layer with exactly that file, executable.
func extract(t *testing.T, img v1.Image, arch string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: %d layers, %v", arch, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := filepath.Join(t.TempDir(), "pullkey")
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if h.Name != "pullkey" || h.Mode&0o111 == 0 {
			t.Fatalf("%s: layer entry %s mode %o", arch, h.Name, h.Mode)
		}
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if n != 1 {
		t.Fatalf("%s: %d entries in the layer", arch, n)
	}
	return out
}
