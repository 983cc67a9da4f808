// Command image builds pullkey's multi-arch OCI image without a container
// engine and without pulling a base image: it cross-compiles pullkey
// (CGO_ENABLED=0) for linux/amd64 and linux/arm64, puts each static binary
// alone in a layer as /pullkey, and writes an OCI image layout holding an
// image index of the two manifests (entrypoint /pullkey) to -out.
//
//	go -C deploy/image run . -version v0.1.0 -commit abc1234
//
// Push it with any OCI tool, e.g. "crane push out/image ghcr.io/pullkey/pullkey:v0.1.0"
// or "skopeo copy --all oci:out/image:v0.1.0 docker://ghcr.io/pullkey/pullkey:v0.1.0".
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platforms are the architectures the image is built for.
var platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// options say what to build.
type options struct {
	repo, out, version, commit string
	// created is the images' creation time (SOURCE_DATE_EPOCH, else the
	// epoch), so the same source gives the same image digest.
	created time.Time
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", "../..", "pullkey repository root")
	flag.StringVar(&o.out, "out", "../../out/image", "OCI layout directory to write (replaced)")
	flag.StringVar(&o.version, "version", "dev", "version stamped into the binary and the image")
	flag.StringVar(&o.commit, "commit", "unknown", "commit stamped into the binary")
	flag.Parse()
	o.created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			fmt.Fprintln(os.Stderr, "image: SOURCE_DATE_EPOCH is not a number")
			os.Exit(2)
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	if err := build(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", o.out)
}

// build writes the multi-arch OCI layout.
func build(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "pullkey-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		bin := filepath.Join(tmp, "pullkey-"+p.Architecture)
		if err := compile(ctx, o, p, bin); err != nil {
			return err
		}
		img, err := image(o, p, bin)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat},
		})
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	lp, err := layout.Write(o.out, empty.Index)
	if err != nil {
		return err
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.version,
	}))
}

// compile cross-compiles pullkey, static, with version information.
func compile(ctx context.Context, o options, p v1.Platform, out string) error {
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", o.version, o.commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/pullkey")
	cmd.Dir = o.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s/%s: %v\n%s", p.OS, p.Architecture, err, b)
	}
	return nil
}

// image is one architecture's image: the binary alone, as /pullkey.
func image(o options, p v1.Platform, bin string) (v1.Image, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "pullkey", Mode: 0o755, Size: int64(len(b)), ModTime: o.created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(b); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Architecture
	cfg.Created = v1.Time{Time: o.created}
	cfg.Config.Entrypoint = []string{"/pullkey"}
	cfg.Config.Cmd = nil
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "pullkey",
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.commit,
		"org.opencontainers.image.source":   "https://github.com/pullkey/pullkey",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: o.created})
}
