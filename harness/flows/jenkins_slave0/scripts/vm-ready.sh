#!/bin/sh
# VM-with-docker is ready as an operator checks it after vm.sh or a boot: no
# gateway, the engine and the registry answer, the agent runs and has its host key.
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

# The VM's network is host-only: its DHCP gives no gateway, so the VM answers
# the hosts of that network (host2) and no one else. Docker gives a
# container a default route at each start; a VM on a host-only network has none.
# (`ip route | grep`: iproute2 4.3, Ubuntu 16.04's, lists every route for `ip route show default`.)
if ip route | grep -q '^default '; then
    ip route del default
    changed "no default route (a host-only network has no gateway)"
else
    ok "no default route (a host-only network has no gateway)"
fi

engine_answers
registry_answers http://localhost:5000
if [ "${VARIANT:-hardened}" = as_written ] && [ "$(docker inspect -f '{{.State.Running}}' jenkins-slave0)" != true ]; then
    # As written, the agent has no restart policy: after a boot the operator starts it.
    docker start jenkins-slave0 >/dev/null
    changed "container jenkins-slave0 started (it has no restart policy)"
fi
wait_for 30 docker exec jenkins-slave0 test -s /etc/ssh/ssh_host_ed25519_key.pub ||
    fail "jenkins-slave0 has no host key after $WAITED s: $(docker logs --tail 5 jenkins-slave0 2>&1)"
ok "jenkins-slave0 has its host key"
