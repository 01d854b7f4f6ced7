#!/bin/sh
# One stage of a build job, as jenkins on the build host. A job runs its
# stages in order; two jobs of the same user may run theirs at once.
#   job.sh login            docker login, the password on stdin
#   job.sh build            the webapp FROM the host's base, tagged for the registry
#   job.sh push             push it
#   job.sh pull [IMAGE]     pull IMAGE (default: the job's own image)
#   job.sh logout           docker logout
#   job.sh cleanup          the cleanup stage: images older than 2 h that no
#                           container uses, volumes no container uses, logout
#   REGISTRY, BASE, BUILD_NUMBER, REGISTRY_USER (login); WORKSPACE (default
#   ~/workspace/job); PER_JOB_CONFIG=yes: DOCKER_CONFIG=$WORKSPACE/$BUILD_NUMBER/.docker,
#   the job's own credentials, which no other job's login or logout touches
set -eu
stage=${1:?usage: job.sh login|build|push|pull|logout|cleanup}
: "${REGISTRY:?}" "${BASE:?}" "${BUILD_NUMBER:?}"
here=$(cd "$(dirname "$0")" && pwd)
workspace=${WORKSPACE:-$HOME/workspace/job}
image="$REGISTRY/team/job:$BUILD_NUMBER"
if [ "${PER_JOB_CONFIG:-no}" = yes ]; then
    export DOCKER_CONFIG="$workspace/$BUILD_NUMBER/.docker"
    mkdir -p "$DOCKER_CONFIG"
    chmod 700 "$DOCKER_CONFIG"
fi

case "$stage" in
login)
    docker login --username "${REGISTRY_USER:?}" --password-stdin "$REGISTRY" >/dev/null 2>&1
    echo "job $BUILD_NUMBER: logged in to $REGISTRY as $REGISTRY_USER"
    ;;
build)
    src="$workspace/$BUILD_NUMBER/src"
    rm -rf "$src"
    mkdir -p "$src"
    cp -R "$here/../webapp/." "$src/"
    docker build -q --build-arg "BASE=$BASE" --build-arg "VERSION=$BUILD_NUMBER" -t "$image" "$src" >/dev/null
    echo "job $BUILD_NUMBER: built $image"
    ;;
push)
    docker push "$image" >/dev/null
    echo "job $BUILD_NUMBER: pushed $image"
    ;;
pull)
    docker pull "${2:-$image}" >/dev/null
    echo "job $BUILD_NUMBER: pulled ${2:-$image}"
    ;;
logout)
    docker logout "$REGISTRY" >/dev/null
    echo "job $BUILD_NUMBER: logged out of $REGISTRY"
    ;;
cleanup)
    # until= compares when an image was built, not when it was pulled: a
    # freshly pulled image built long ago goes too. The volumes as the
    # write-up removes them: every one no container uses, named ones too
    # (`docker volume prune` keeps named volumes from Docker 23 on).
    docker system prune -a -f --filter until=2h >/dev/null
    # A volume a container took meanwhile cannot go: say so and go on to the logout.
    docker volume ls -qf dangling=true | xargs -r docker volume rm >/dev/null ||
        echo "job $BUILD_NUMBER: a volume could not be removed (in use)" >&2
    docker logout "$REGISTRY" >/dev/null
    echo "job $BUILD_NUMBER: cleaned up"
    ;;
*)
    echo "job.sh: no stage $stage (login, build, push, pull, logout or cleanup)" >&2
    exit 2
    ;;
esac
