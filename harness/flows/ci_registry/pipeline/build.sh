#!/bin/sh
# The build job, as jenkins on the build host: check out the webapp, build it
# FROM the host's own base, tag it for the registry, push.
#   build.sh VERSION
#   REGISTRY (host:port), BASE (the base image's name), WORKSPACE (optional)
set -eu
version=${1:?usage: build.sh VERSION}
: "${REGISTRY:?}" "${BASE:?}"
here=$(cd "$(dirname "$0")" && pwd)
workspace=${WORKSPACE:-$HOME/workspace/webapp}
image="$REGISTRY/team/webapp:$version"

rm -rf "$workspace"
mkdir -p "$workspace"
cp -R "$here/../webapp/." "$workspace/"
docker build -q --build-arg "BASE=$BASE" --build-arg "VERSION=$version" -t "$image" "$workspace" >/dev/null
docker push "$image" >/dev/null
echo "build: pushed $image"
