#!/bin/sh
# The deploy daemon: container $DEPLOYD_NAME of $DEPLOYD_IMAGE (which the tool
# loaded), with the engine's socket and its data mounted, HTTPS on :8081.
#   DEPLOYD_IMAGE          its image
#   DEPLOYD_NAME           its container's name (default deployd)
#   DEPLOYD_PUBLISH        where :8081 is published, as `docker run -p` says it (default 8081:8081)
#   DEPLOYD_DATA_SOURCE    its data as the engine mounts it: a path on the engine's host
#                          (default /srv/deployd) or a volume's name
#   DEPLOYD_SOCKET_SOURCE  the engine's socket as a path on the engine's host
#                          (default /var/run/docker.sock)
#   inputs/token           its API token
# The engine's host is this server for its own engine; for a mounted socket it
# is the machine the engine runs on, whose paths this server does not see.
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

: "${DEPLOYD_IMAGE:?}"
name=${DEPLOYD_NAME:-deployd}
publish=${DEPLOYD_PUBLISH:-8081:8081}
data=${DEPLOYD_DATA_SOURCE:-/srv/deployd}
socket=${DEPLOYD_SOCKET_SOURCE:-/var/run/docker.sock}

docker image inspect "$DEPLOYD_IMAGE" >/dev/null 2>&1 || fail "no image $DEPLOYD_IMAGE on the engine: load it first"
case "$data" in
/*) ensure_dir "$data" 700 root:root ;;
*)
    if docker volume inspect "$data" >/dev/null 2>&1; then
        ok "volume $data"
    else
        docker volume create "$data" >/dev/null
        changed "volume $data"
    fi
    ;;
esac
# The API token the tool made (inputs/token), in deployd's data where it reads
# it on each request; written by a throwaway container, which sees the data as
# deployd does on either engine.
said=$(docker run --rm -i -v "$data:/srv/deployd" "$DEPLOYD_IMAGE" sh -c '
    umask 077
    cat > /srv/deployd/token.new
    if cmp -s /srv/deployd/token.new /srv/deployd/token; then
        rm /srv/deployd/token.new
        echo same
    else
        mv /srv/deployd/token.new /srv/deployd/token
    fi' < "$FLOW_DIR/inputs/token")
if [ "$said" = same ]; then ok "deployd token"; else changed "deployd token"; fi
run_container "$name" --restart unless-stopped \
    -e DEPLOYD_NAME="$name" -e DEPLOYD_IMAGE="$DEPLOYD_IMAGE" -e DEPLOYD_HOSTNAME="$(hostname)" \
    -e DEPLOYD_DATA_SOURCE="$data" -e DEPLOYD_SOCKET_SOURCE="$socket" \
    -v "$socket:/var/run/docker.sock" -v "$data:/srv/deployd" -p "$publish" "$DEPLOYD_IMAGE"

# Ready as the tool checks it.
DEPLOYD_NAME=$name sh "$FLOW_DIR/scripts/deployd-ready.sh"
