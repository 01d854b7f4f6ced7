#!/bin/sh
# Without a registry: carry the built VERSION to production over SSH, then
# swap production's webapp for it.
#   ship.sh save VERSION     docker save | ssh docker load: the image as built
#   ship.sh export VERSION   the write-up's way, docker export | ssh docker
#                            import: a filesystem only, without CMD or ENV,
#                            so the container cannot start
#   ship.sh export-change VERSION   the same, with import --change giving
#                            back the CMD and ENV the Dockerfile set
#   REGISTRY (host:port), PRODUCTION (the host, default production)
set -eu
mode=${1:?usage: ship.sh save|export|export-change VERSION}
version=${2:?usage: ship.sh save|export|export-change VERSION}
: "${REGISTRY:?}"
# shellcheck source=harness/flows/ci_registry/pipeline/version.sh
. "$(dirname "$0")/version.sh"
check_version ship.sh "$version"
production="deploy@${PRODUCTION:-production}"
built="$REGISTRY/team/webapp:$version"

case "$mode" in
save)
    image="webapp:$version"
    docker tag "$built" "$image"
    docker save "$image" | ssh -o BatchMode=yes "$production" load >/dev/null
    ;;
export | export-change)
    # production's webapp-deploy makes the import; with export-change it gives
    # back the CMD and ENV (import --change), which plain export loses.
    image="webapp:$version-$mode"
    if [ "$mode" = export ]; then
        set -- import "$image"
    else
        set -- import-change "$image" "$version"
    fi
    container=$(docker create "$built")
    docker export "$container" | ssh -o BatchMode=yes "$production" "$@" >/dev/null
    docker rm "$container" >/dev/null
    ;;
*)
    echo "ship.sh: no mode $mode (save, export or export-change)" >&2
    exit 2
    ;;
esac
exec ssh -o BatchMode=yes "$production" deploy "$image"
