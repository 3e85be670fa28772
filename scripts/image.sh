#!/usr/bin/env bash
# image.sh: build ward's container image without a Docker engine or a base
# image to pull, as the tests do here.
#
#   scripts/image.sh [TAG]      # default TAG: localhost/ward:test
#
# It runs the Dockerfile's build-stage command as a plain step (a static
# CGO_ENABLED=0 binary), then builds the Dockerfile's final stage (FROM
# scratch + CA certificates + ward) with buildah (vfs storage, chroot
# isolation), and runs `ward version` inside the image to prove it starts.
# With a Docker engine and registry access, `docker build -t ward .` does
# all of this from the Dockerfile itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag=${1:-localhost/ward:test}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# The Dockerfile's build stage, verbatim but for the output path.
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/wardsecrets/ward/launcher.Version=${VERSION:-dev}" \
  -o "$ctx/ward" .
"$ctx/ward" version
if ldd "$ctx/ward" >/dev/null 2>&1; then
  echo "image: the binary is not static" >&2
  exit 1
fi
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
# The Dockerfile's final stage, copying from the context instead of the
# build stage.
sed -n '/^FROM scratch/,$p' Dockerfile \
  | sed -e 's|COPY --from=build /etc/ssl/certs/ca-certificates.crt |COPY ca-certificates.crt |' \
        -e 's|COPY --from=build /out/ward |COPY ward |' > "$ctx/Containerfile"
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
