#!/bin/sh
# The deploy job, as jenkins on the build host: production pulls the pushed
# VERSION and swaps its webapp container for it.
#   deploy.sh VERSION
#   REGISTRY (host:port), PRODUCTION (the host, default production)
set -eu
version=${1:?usage: deploy.sh VERSION}
: "${REGISTRY:?}"
exec ssh -o BatchMode=yes "deploy@${PRODUCTION:-production}" webapp-deploy "$REGISTRY/team/webapp:$version"
