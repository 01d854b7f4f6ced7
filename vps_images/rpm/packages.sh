#!/bin/sh
# Install what a freshly provisioned VPS of this release has, from the
# repositories the base image is configured with. Runs in the build.
set -eu

# CentOS 7 reached its end of life in June 2024: its mirror list answers no
# more and its release went to the vault, which is where real CentOS 7
# servers point yum now. Each repo file of the image already names the
# mirror's URL in a commented "#baseurl=http://mirror.<domain>/..." line; use
# that line with only the first host label changed to "vault" (so no host is
# named here), and comment out the dead mirrorlist= lines.
# shellcheck source=/dev/null
. /etc/os-release
if [ "$ID" = centos ] && [ "${VERSION_ID:-}" = 7 ]; then
    sed -i \
        -e 's|^mirrorlist=|#mirrorlist=|' \
        -e 's|^#baseurl=http://mirror\.|baseurl=http://vault.|' \
        /etc/yum.repos.d/CentOS-*.repo
fi

if command -v dnf >/dev/null; then pkg=dnf; else pkg=yum; fi

$pkg install -y \
    openssh-server openssh-clients sudo systemd procps-ng iproute iputils \
    curl ca-certificates less python3 rsync shadow-utils passwd
# The Docker engine, unless this is the bare image (DOCKER=no): CentOS 7
# ships it as "docker"; EL9 has no Docker package, only podman's
# docker-compatible CLI.
if [ "${DOCKER:-yes}" = yes ]; then
    $pkg install -y docker || $pkg install -y moby-engine || $pkg install -y podman-docker
fi
$pkg clean all
