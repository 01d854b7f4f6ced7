#!/bin/sh
# The deploy job, as jenkins on the build host: production pulls the pushed
# VERSION and swaps its webapp container for it.
#   deploy.sh VERSION
#   REGISTRY (host:port), PRODUCTION (the host, default production)
set -eu
version=${1:?usage: deploy.sh VERSION}
: "${REGISTRY:?}"
# A Docker tag, checked here: a version is never a piece of a shell command on production.
case "$version" in
'' | [.-]* | *[!A-Za-z0-9_.-]*) bad=yes ;;
*) bad=no ;;
esac
if [ "$bad" = yes ] || [ ${#version} -gt 128 ]; then
    echo "deploy.sh: not a version (a Docker tag: letters, digits, _ . -, up to 128): $version" >&2
    exit 2
fi
# production's key runs webapp-deploy whatever is asked; these are its words.
exec ssh -o BatchMode=yes "deploy@${PRODUCTION:-production}" deploy "$REGISTRY/team/webapp:$version"
