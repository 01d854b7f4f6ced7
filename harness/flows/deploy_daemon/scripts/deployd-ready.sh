#!/bin/sh
# deployd is ready as the tool checks it after deployd.sh or a boot: the
# engine answers, and deployd answers HTTPS on its own address (which this
# server reaches on either engine's bridge).
#   DEPLOYD_NAME  its container's name (default deployd)
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

name=${DEPLOYD_NAME:-deployd}
engine_answers
running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
wait_for 30 running "$name" ||
    fail "container $name is not running after $WAITED s: $(docker logs --tail 5 "$name" 2>&1)"
address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$name" | cut -d' ' -f1)
answers deployd "https://$address:8081/" "$name"
