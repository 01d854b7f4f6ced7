#!/bin/sh
# registry.local is ready after registry.sh or a boot: its engine and the
# registry answer.
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

engine_answers
registry_answers http://localhost:5000
