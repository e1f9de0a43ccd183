# syntax=docker/dockerfile:1
# The fsad image: a static binary on distroless, running as a non-root user.
#
#   docker build -f deploy/fsad.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t fsad .
#   (or: make deploy-image)
#
# The build context is the repository root; deploy/fsad.Dockerfile.dockerignore keeps .cache and
# .git out of it. The image holds /usr/local/bin/fsad (the entrypoint) and
# /usr/local/bin/fsad-pod (the StatefulSet's launcher: bootstrap on ordinal 0, join elsewhere).

ARG GO_VERSION=1.26

# --- build: compile both binaries statically (no cgo), for the target platform ---------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/fsad ./daemon/cmd/fsad && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/fsad-pod ./deploy/fsad-pod && \
    mkdir -p /out/data

# --- runtime: no shell, no package manager; uid/gid 65532 (distroless "nonroot") ---------------
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="fsad" \
      org.opencontainers.image.description="fsa daemon: per-project cloud dev sandboxes on Kubernetes" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/fsad /out/fsad-pod /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/fsa
USER 65532:65532
# Listen on every interface inside the container; state in the volume.
ENV FSA_DATA_DIR=/var/lib/fsa \
    FSA_LISTEN=0.0.0.0:8080
# 8080: API (Connect, gRPC, gRPC-Web), /healthz, /readyz, /metrics, /admin/v1. 9080: Raft.
EXPOSE 8080 9080
VOLUME ["/var/lib/fsa"]
ENTRYPOINT ["/usr/local/bin/fsad"]
