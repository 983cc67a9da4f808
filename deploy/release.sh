#!/usr/bin/env bash
# Release builds: static pullkey binaries for linux/amd64, linux/arm64 and
# windows/amd64 (kubelet on Windows runs credential providers too) with
# version information, and their SHA-256 sums, into dist/ (or $OUT).
#
#   VERSION=v0.1.0 deploy/release.sh
#
# Then: cd dist && sha256sum -c SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
OUT=${OUT:-dist}
GO=${GO:-go}
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 windows/amd64"}

rm -rf "$OUT"
mkdir -p "$OUT"
for target in $TARGETS; do
  os=${target%/*}
  arch=${target#*/}
  ext=""
  if [ "$os" = windows ]; then ext=.exe; fi
  name="pullkey-$os-$arch$ext"
  echo "building $name ($VERSION, $COMMIT)"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath \
    -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
    -o "$OUT/$name" ./cmd/pullkey
done
(cd "$OUT" && sha256sum pullkey-* > SHA256SUMS && cat SHA256SUMS)
