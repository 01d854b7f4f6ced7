#!/bin/sh
# A new server's Docker engine, as a deploy tool's bootstrap installs it: the
# distribution's package, its service enabled and started. A server with a
# Docker socket its own engine does not serve (a mounted one: a socket-mode
# VPS, the host's engine) gets no engine; its docker client must be one that
# engine takes.
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

if [ -S /var/run/docker.sock ] && ! systemctl is-enabled docker >/dev/null 2>&1; then
    # Docker 29's client speaks API 1.44 at least; an engine older than 25 answers "too new".
    refused=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null) ||
        fail "the engine on /var/run/docker.sock refuses this server's docker client ($(docker --version)): $(echo "$refused" | tail -n 1)"
    ok "a Docker engine answers on /var/run/docker.sock, not this server's own"
    exit 0
fi
# shellcheck disable=SC2086 # one word per package
ensure_packages $DOCKER_PACKAGES
# Debian 13 moved the client into docker-cli, which docker.io only recommends.
command -v docker >/dev/null || ensure_packages docker-cli
if systemctl is-enabled docker >/dev/null 2>&1; then
    ok "docker enabled"
else
    systemctl enable docker >/dev/null 2>&1
    changed "docker enabled"
fi
if systemctl is-active docker >/dev/null 2>&1; then
    ok "docker running"
else
    systemctl start docker
    changed "docker started"
fi
engine_answers
