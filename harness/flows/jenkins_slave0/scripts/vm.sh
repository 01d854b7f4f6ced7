#!/bin/sh
# VM-with-docker: myuser (in the docker group) reached from host2's docker
# account, its engine also on TCP :2375 of its address, and two containers:
# the registry on :5000 with the host directory /var/docker-registry, and
# jenkins-slave0, the Jenkins agent, sshd on :22000.
#   VARIANT              as_written | hardened
#   VM_IP                the private address (hardened: where dockerd and the agent listen)
#   inputs/docker.pub    host2's docker account's key (myuser's authorized key)
#   inputs/agent_keys    the keys the agent's jenkins user authorizes
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"
# shellcheck source=harness/flows/lib/docker.sh
. "$FLOW_DIR/lib/docker.sh"

ensure_user myuser docker
ensure_dir /home/myuser/.ssh 700 myuser:myuser
ensure_file /home/myuser/.ssh/authorized_keys 600 myuser:myuser < "$FLOW_DIR/inputs/docker.pub"

# The engine on TCP.
unit=$(systemctl show -p FragmentPath docker.service | cut -d= -f2)
if [ "$VARIANT" = as_written ]; then
    # As in 2015: the packaged unit edited in place, the VM's address, no TLS.
    if grep -qF -- "-H tcp://$VM_IP:2375" "$unit"; then
        ok "dockerd -H tcp://$VM_IP:2375 in $unit"
        engine_changed=no
    else
        sed -i "s|^ExecStart=\(.*\)\$|ExecStart=\1 -H tcp://$VM_IP:2375|" "$unit"
        changed "dockerd -H tcp://$VM_IP:2375 in $unit"
        engine_changed=yes
    fi
else
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | tail -n 1)
    ensure_rendered /etc/systemd/system/docker.service.d/tcp.conf 644 root:root \
        "$FLOW_DIR/templates/hardened/dockerd-tcp.conf" EXEC_START="$exec_start" VM_IP="$VM_IP"
    engine_changed=$FILE_CHANGED
fi
if [ "$engine_changed" = yes ]; then
    restart_engine
else
    engine_answers
fi

mkdir -p /var/docker-registry
if [ "$VARIANT" = as_written ]; then
    # The write-up's mount: a path registry:2 never writes (its data is in
    # /var/lib/registry, an anonymous volume lost with the container).
    # Both ports on every address of the VM.
    registry_data=/var/lib/docker-registry registry_port=5000:5000 agent_port=22000:22
else
    # The registry for this engine alone (pushes and pulls come from the VM's
    # own address space); the agent for host2, on the private network only.
    registry_data=/var/lib/registry registry_port=127.0.0.1:5000:5000 agent_port="$VM_IP:22000:22"
fi
run_container registry -p "$registry_port" --restart=always -v "/var/docker-registry:$registry_data" registry:2
if [ "$VARIANT" = as_written ]; then
    # As written: the agent's image built here with its keys baked in
    # (templates/as_written/agent.Dockerfile), and its container run without
    # a restart policy: after a reboot it is gone until someone starts it.
    context=$(mktemp -d)
    trap 'rm -rf "$context"' EXIT # no copy of an input left behind, whatever happens
    cp "$FLOW_DIR/templates/as_written/agent.Dockerfile" "$context/Dockerfile"
    cp "$FLOW_DIR/inputs/agent_keys" "$context/authorized_keys"
    before=$(docker image inspect -f '{{.Id}}' jenkins-slave0:keys 2>/dev/null || true)
    built=$(docker build -q -t jenkins-slave0:keys "$context" 2>&1) ||
        fail "docker build of jenkins-slave0:keys failed: $(echo "$built" | tail -n 5)"
    image=$(docker image inspect -f '{{.Id}}' jenkins-slave0:keys)
    if [ "$image" = "$before" ]; then
        ok "image jenkins-slave0:keys"
    else
        changed "image jenkins-slave0:keys (the agent's keys baked in)"
    fi
    # The image's ID among the arguments: a new image replaces the container.
    run_container jenkins-slave0 -p "$agent_port" --label "vps-flows.image=$image" jenkins-slave0:keys
else
    keys=$(cat "$FLOW_DIR/inputs/agent_keys")
    run_container jenkins-slave0 -p "$agent_port" --restart=always -e "JENKINS_AGENT_SSH_PUBKEY=$keys" jenkins-slave0
fi

# Ready as an operator checks it.
sh "$FLOW_DIR/scripts/vm-ready.sh"
