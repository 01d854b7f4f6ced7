#!/bin/sh
# VM-with-docker: myuser (in the docker group) reached from host2's docker
# account, its engine also on TCP :2375, and two containers: the registry on
# :5000 with the host directory /var/docker-registry, and jenkins-slave0, the
# Jenkins agent, sshd on :22000.
#   VARIANT              as_written | hardened
#   VM_IP                the private address (hardened: where dockerd listens on TCP)
#   inputs/docker.pub    host2's docker account's key (myuser's authorized key)
#   inputs/agent_keys    the keys the agent's jenkins user authorizes
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

ensure_user myuser docker
ensure_dir /home/myuser/.ssh 700 myuser:myuser
ensure_file /home/myuser/.ssh/authorized_keys 600 myuser:myuser < "$FLOW_DIR/inputs/docker.pub"

# The engine on TCP.
unit=$(systemctl show -p FragmentPath docker.service | cut -d= -f2)
if [ "$VARIANT" = as_written ]; then
    # As in 2015: the packaged unit edited in place, every address, no TLS.
    if grep -q -- '-H tcp://0.0.0.0:2375' "$unit"; then
        ok "dockerd -H tcp://0.0.0.0:2375 in $unit"
        engine_changed=no
    else
        sed -i 's|^ExecStart=\(.*\)$|ExecStart=\1 -H tcp://0.0.0.0:2375|' "$unit"
        changed "dockerd -H tcp://0.0.0.0:2375 in $unit"
        engine_changed=yes
    fi
else
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | tail -n 1)
    ensure_rendered /etc/systemd/system/docker.service.d/tcp.conf 644 root:root \
        "$FLOW_DIR/templates/hardened/dockerd-tcp.conf" EXEC_START="$exec_start" VM_IP="$VM_IP"
    engine_changed=$FILE_CHANGED
fi
if [ "$engine_changed" = yes ]; then
    systemctl daemon-reload
    systemctl restart docker
    changed "docker restarted"
fi
i=0
until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -le 600 ] || fail "the Docker engine does not answer after its restart: $(systemctl status docker 2>&1 | tail -n 5)"
    sleep 0.1
done

# run_container NAME ARGS...: a container NAME of `docker run -d --name NAME ARGS`;
# one that ran with other ARGS is replaced.
run_container() {
    name=$1
    shift
    wanted=$(printf '%s ' "$@" | sha256sum | cut -c1-16)
    have=$(docker container inspect -f '{{index .Config.Labels "vps-flows.args"}}' "$name" 2>/dev/null || true)
    if [ "$have" = "$wanted" ]; then
        if [ "$(docker container inspect -f '{{.State.Running}}' "$name")" = true ]; then
            ok "container $name"
        else
            docker start "$name" >/dev/null
            changed "container $name started"
        fi
        return
    fi
    [ -z "$have" ] || docker rm -f "$name" >/dev/null
    docker run -d --name "$name" --label "vps-flows.args=$wanted" "$@" >/dev/null
    changed "container $name"
}

mkdir -p /var/docker-registry
if [ "$VARIANT" = as_written ]; then
    # The write-up's mount: a path registry:2 never writes (its data is in
    # /var/lib/registry, an anonymous volume lost with the container).
    registry_data=/var/lib/docker-registry
else
    registry_data=/var/lib/registry
fi
run_container registry -p 5000:5000 --restart=always -v "/var/docker-registry:$registry_data" registry:2
run_container jenkins-slave0 -p 22000:22 --restart=always \
    -e "JENKINS_AGENT_SSH_PUBKEY=$(cat "$FLOW_DIR/inputs/agent_keys")" jenkins-slave0

# Ready as an operator checks it: the registry answers, the agent has its host key.
i=0
until curl -fsS -o /dev/null http://localhost:5000/v2/ 2>/dev/null &&
    docker exec jenkins-slave0 test -s /etc/ssh/ssh_host_ed25519_key.pub; do
    i=$((i + 1))
    [ $i -le 300 ] || fail "registry or jenkins-slave0 not ready after 30 s: $(docker logs --tail 5 registry 2>&1)"
    sleep 0.1
done
ok "registry answers on :5000, jenkins-slave0 has its host key"
