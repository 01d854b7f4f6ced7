#!/bin/sh
# The write-up's chain of images, as jenkins on the build host: a base made by
# `docker import` of a tar (the host's base, exported) and pushed to the
# private registry, then 01 FROM that base, 02 FROM 01, 03 FROM 02, 04 FROM
# 03, each FROM the previous tag in the registry: every image is pushed and
# removed here, so the next build pulls it back.
#   chain.sh
#   REGISTRY (host:port), BASE (the base image's name)
set -eu
: "${REGISTRY:?}" "${BASE:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/context"

from="$REGISTRY/team/base:imported"
container=$(docker create "$BASE" true)
docker export "$container" >"$work/base.tar"
docker rm "$container" >/dev/null
docker import "$work/base.tar" "$from" >/dev/null
docker push "$from" >/dev/null
docker rmi "$from" >/dev/null
echo "chain: base imported from a tar, pushed as $from"
for n in 01 02 03 04; do
    image="$REGISTRY/team/chain-$n:1"
    printf 'FROM %s\nRUN echo %s >>/etc/chain\n' "$from" "$n" >"$work/context/Dockerfile"
    docker build -q -t "$image" "$work/context" >/dev/null # pulls $from from the registry
    docker push "$image" >/dev/null
    docker rmi "$image" >/dev/null
    echo "chain: $image FROM $from, pushed"
    from=$image
done
