#!/bin/sh
# The deploy job, as jenkins on the build host: production pulls the pushed
# VERSION and swaps its webapp container for it.
#   deploy.sh VERSION
#   REGISTRY (host:port), PRODUCTION (the host, default production)
set -eu
version=${1:?usage: deploy.sh VERSION}
: "${REGISTRY:?}"
# shellcheck source=harness/flows/ci_registry/pipeline/version.sh
. "$(dirname "$0")/version.sh"
check_version deploy.sh "$version"
# production's key runs webapp-deploy whatever is asked; these are its words.
exec ssh -o BatchMode=yes "deploy@${PRODUCTION:-production}" deploy "$REGISTRY/team/webapp:$version"
