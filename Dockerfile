# ward and its store helpers as static binaries in a minimal image.
#
#   docker build -t ward .
#
# Apps copy the whole directory into their own image (see
# examples/docker/Dockerfile): ward finds its helpers (ward-vault,
# ward-aws, ward-gcp, ward-azure) next to its own executable.
#   COPY --from=ward /usr/local/bin/ /usr/local/bin/
#   ENTRYPOINT ["ward", "run", "--"]
#
# A multi-arch image (BuildKit): the build stage runs on the builder's own
# platform and cross-compiles for each target, which Go does without an
# emulator (compiling under QEMU instead is many times slower):
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7,linux/s390x,linux/ppc64le -t ward .
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Set by BuildKit for the platform being built (linux, arm, v7); empty
# (this machine's) without it.
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
RUN mkdir -p /out/bin \
 && CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} GOARM=${TARGETVARIANT#v} go build -trimpath -tags urfave_cli_no_docs \
      -ldflags "-s -w -X github.com/wardsecrets/ward/launcher.version=${VERSION} -X github.com/wardsecrets/ward/resolve/remote.version=${VERSION}" \
      -o /out/bin/ . ./resolve/vault/ward-vault ./resolve/aws/ward-aws ./resolve/gcp/ward-gcp ./resolve/azure/ward-azure \
 && mv /out/bin/ward* /out/ \
 && go version -m /out/ward | grep -q "GOARCH=${TARGETARCH:-$(go env GOARCH)}\$" \
 && if [ "${TARGETARCH:-$(go env GOARCH)}" = "$(go env GOHOSTARCH)" ]; then /out/ward version; fi

FROM scratch
LABEL org.opencontainers.image.title="ward" \
      org.opencontainers.image.description="Runs a program with its secrets, resolved from Vault, AWS, GCP, Azure or an encrypted local store" \
      org.opencontainers.image.source="https://github.com/wardsecrets/ward" \
      org.opencontainers.image.licenses="Apache-2.0"
# CA certificates for the stores' https:// endpoints.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ward /out/ward-vault /out/ward-aws /out/ward-gcp /out/ward-azure /usr/local/bin/
# Not root: ward needs no privilege of its own (as PID 1 it reaps and
# signals its own children only).
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/ward"]
CMD ["--help"]
