#!/bin/sh
# registry.local: the private registry, a registry:2 container on :5000 of
# this host's engine (plain HTTP, as the write-up runs it), its data on the
# host directory /srv/registry.
#   inputs/users   optional, "NAME PASSWORD" lines: the registry then wants a
#                  login (htpasswd, bcrypt at cost 4: the registry checks the
#                  hash on every request, and a high cost makes each one slow)
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

engine_answers
ensure_dir /srv/registry 755 root:root
users_changed=no
set --
if [ -f "$FLOW_DIR/inputs/users" ]; then
    ensure_packages "$HTPASSWD_PACKAGE"
    ensure_dir /etc/registry 755 root:root
    [ -f /etc/registry/htpasswd ] || install -m 644 /dev/null /etc/registry/htpasswd
    while read -r name password; do
        # Passwords on stdin (-i), never on a command line.
        if printf '%s\n' "$password" | htpasswd -vi /etc/registry/htpasswd "$name" >/dev/null 2>&1; then
            ok "registry user $name"
        else
            printf '%s\n' "$password" | htpasswd -iB -C 4 /etc/registry/htpasswd "$name" 2>/dev/null
            changed "registry user $name"
            users_changed=yes
        fi
    done < "$FLOW_DIR/inputs/users"
    set -- -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM=registry.local \
        -e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd -v /etc/registry:/auth:ro
fi
run_container registry -p 5000:5000 --restart=always -v /srv/registry:/var/lib/registry "$@" registry:2
if [ "$users_changed" = yes ] && [ "$CONTAINER_NEW" = no ]; then
    # registry:2 reads htpasswd once, at start.
    docker restart registry >/dev/null
    changed "registry restarted for its users"
fi
sh "$FLOW_DIR/scripts/registry-ready.sh"
