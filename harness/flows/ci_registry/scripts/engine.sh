#!/bin/sh
# A host whose engine pulls from or pushes to the plain-HTTP registry: the
# registry named in daemon.json's insecure-registries (without it the engine
# speaks HTTPS to it and fails: "server gave HTTP response to HTTPS client"),
# and the engine restarted to read it.
#   REGISTRY   host:port of the registry
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

: "${REGISTRY:?}"
ensure_rendered /etc/docker/daemon.json 644 root:root "$FLOW_DIR/templates/daemon.json" REGISTRY="$REGISTRY"
if [ "$FILE_CHANGED" = yes ]; then
    restart_engine
else
    engine_answers
    ok "docker running"
fi
