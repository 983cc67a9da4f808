#!/bin/sh
# Installs a released pullkey on a node or node image: downloads the binary
# for this machine and the release's SHA256SUMS, refuses a binary whose sum
# does not match, then runs "pullkey install" with the arguments given
# (default: --platform capi --configure-kubelet). Used by the Packer snippet
# and the cloud-init example; the Ansible role does the same steps.
#
#   PULLKEY_VERSION=v0.1.0 sh install-pullkey.sh --platform eks
set -eu

PULLKEY_VERSION=${PULLKEY_VERSION:-v0.1.0}
PULLKEY_BASE_URL=${PULLKEY_BASE_URL:-https://github.com/pullkey/pullkey/releases/download/$PULLKEY_VERSION}

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-pullkey: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
name="pullkey-linux-$arch"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/$name" "$PULLKEY_BASE_URL/$name"
curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$PULLKEY_BASE_URL/SHA256SUMS"
grep " $name\$" "$tmp/SHA256SUMS" > "$tmp/sum" || { echo "install-pullkey: $name is not in SHA256SUMS" >&2; exit 1; }
(cd "$tmp" && sha256sum -c sum >/dev/null) || { echo "install-pullkey: checksum mismatch for $name; not installing" >&2; exit 1; }
chmod 0755 "$tmp/$name"

if [ "$#" -eq 0 ]; then
  set -- --platform capi --configure-kubelet
fi
"$tmp/$name" install "$@"
