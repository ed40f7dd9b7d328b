# syntax=docker/dockerfile:1
# For people with Docker. `make image` builds the same images without a container engine
# (hack/image); hack/image/dockerfile_test.go checks that the two agree on the entrypoints, the
# user and the go build flags.
#
# Build: docker build --target manager --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#          -t ghcr.io/securesite-io/securesite:v0.1.0 .
#        docker build --target agent ... -t ghcr.io/securesite-io/securesite-agent:v0.1.0 .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /workspace

# Modules first, so source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# CGO off: the runtime image has no libc. -trimpath keeps build paths out of the binary; the version
# and revision reach --version and the securesite_build_info metric.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w -X github.com/securesite-io/securesite/internal/version.Version=${VERSION} -X github.com/securesite-io/securesite/internal/version.Revision=${REVISION}" -o /out/manager . && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w -X github.com/securesite-io/securesite/internal/version.Version=${VERSION} -X github.com/securesite-io/securesite/internal/version.Revision=${REVISION}" -o /out/securesite-agent ./cmd/securesite-agent

# distroless/static has CA certificates (for AWS and the ACME CA), /etc/passwd with nonroot
# (65532) and tzdata, and nothing else.
FROM gcr.io/distroless/static:nonroot AS agent
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/securesite-io/securesite" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.title="securesite-agent"
WORKDIR /
COPY --from=builder /out/securesite-agent /securesite-agent
USER 65532:65532
ENTRYPOINT ["/securesite-agent"]

# The manager is the last stage, so a plain `docker build .` builds it.
FROM gcr.io/distroless/static:nonroot AS manager
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/securesite-io/securesite" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.title="securesite-manager"
WORKDIR /
COPY --from=builder /out/manager /manager
# Numeric, so kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/manager"]
