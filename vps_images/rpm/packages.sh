#!/bin/sh
# Install what a freshly provisioned VPS of this release has, from the
# repositories the base image is configured with. Runs in the build.
set -eu
if command -v dnf >/dev/null; then pkg=dnf; else pkg=yum; fi

$pkg install -y \
    openssh-server openssh-clients sudo systemd procps-ng iproute iputils \
    curl ca-certificates less python3 shadow-utils passwd
# The Docker engine: CentOS 7 ships it as "docker"; EL9 has no Docker package,
# only podman's docker-compatible CLI.
$pkg install -y docker || $pkg install -y moby-engine || $pkg install -y podman-docker
$pkg clean all
