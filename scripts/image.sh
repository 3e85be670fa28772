#!/usr/bin/env bash
# image.sh: build ward's container image without a Docker engine or a base
# image to pull, as the tests do here.
#
#   scripts/image.sh [TAG]      # default TAG: localhost/ward:test
#
# It runs the Dockerfile's build-stage command as a plain step (static
# CGO_ENABLED=0 binaries: ward and its store helpers), then builds the
# Dockerfile's final stage (FROM scratch + CA certificates + the binaries,
# USER 65534) with buildah (vfs storage, chroot isolation), and runs
# `ward version` and a helper inside the image to prove they start. With a
# Docker engine and registry access, `docker build -t ward .` does all of
# this from the Dockerfile itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag=${1:-localhost/ward:test}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# The Dockerfile's build stage, but for the output path.
mkdir -p "$ctx/bin"
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs \
  -ldflags "-s -w -X github.com/wardsecrets/ward/launcher.version=${VERSION:-dev} -X github.com/wardsecrets/ward/resolve/remote.version=${VERSION:-dev}" \
  -o "$ctx/bin/" . ./resolve/vault/ward-vault ./resolve/aws/ward-aws ./resolve/gcp/ward-gcp ./resolve/azure/ward-azure
mv "$ctx/bin/"ward* "$ctx/"
"$ctx/ward" version
for b in "$ctx"/ward*; do
  if ldd "$b" >/dev/null 2>&1; then
    echo "image: $(basename "$b") is not static" >&2
    exit 1
  fi
done
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
# The Dockerfile's final stage, copying from the context instead of the
# build stage.
sed -n '/^FROM scratch/,$p' Dockerfile \
  | sed -e 's|COPY --from=build /etc/ssl/certs/ca-certificates.crt |COPY ca-certificates.crt |' \
        -e 's|COPY --from=build /out/ward /out/ward-vault /out/ward-aws /out/ward-gcp /out/ward-azure |COPY ward ward-vault ward-aws ward-gcp ward-azure |' > "$ctx/Containerfile"
if grep -q -- '--from=' "$ctx/Containerfile"; then
  echo "image: the Dockerfile's final stage changed; update scripts/image.sh" >&2
  exit 1
fi
b() { buildah --storage-driver vfs "$@"; }
b bud --isolation chroot --quiet -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
ctr=$(b from "$tag")
trap 'b rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
out=$(b run --isolation chroot "$ctr" -- /usr/local/bin/ward version)
echo "image $tag: $out"
case "$out" in ward\ *) ;; *) echo "image: ward did not run in the image" >&2; exit 1 ;; esac
user=$(b inspect --format '{{.OCIv1.Config.User}}' "$tag")
[ "$user" = "65534:65534" ] || { echo "image: runs as $user, want 65534:65534" >&2; exit 1; }
helper=$(b run --isolation chroot "$ctr" -- /usr/local/bin/ward-vault 2>&1 || true)
case "$helper" in *"serves ward's vault store"*) ;; *) echo "image: ward-vault did not run in the image: $helper" >&2; exit 1 ;; esac
echo "image $tag: helpers present, user $user"
