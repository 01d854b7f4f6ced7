#!/bin/sh
# registry.local: the private registry, a registry:2 container on :5000 of
# this host's engine (plain HTTP, as the write-up runs it), its data on the
# host directory /srv/registry.
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

engine_answers
ensure_dir /srv/registry 755 root:root
run_container registry -p 5000:5000 --restart=always -v /srv/registry:/var/lib/registry registry:2
registry_answers http://localhost:5000
