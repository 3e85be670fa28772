# ward as a static binary in a minimal image.
#
#   docker build -t ward .
#
# Apps copy it into their own image (see examples/docker/Dockerfile):
#   COPY --from=ward /usr/local/bin/ward /usr/local/bin/ward
#   ENTRYPOINT ["ward", "run", "--"]
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/wardsecrets/ward/launcher.Version=${VERSION}" \
      -o /out/ward . \
 && /out/ward version

FROM scratch
# CA certificates for https:// Vault and AWS endpoints.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ward /usr/local/bin/ward
ENTRYPOINT ["/usr/local/bin/ward"]
CMD ["--help"]
