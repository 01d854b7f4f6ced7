#!/bin/sh
# host2 (the bastion): the hop scripts, laptop's key authorized for each
# account with its forced command, and the next hop's host key known.
#   VARIANT                  as_written | hardened
#   inputs/myuser.pub        laptop's myuser public key
#   inputs/vm_known_hosts    VM-with-docker's host key line
#   inputs/agent_known_hosts the jenkins-slave0 container's ([vm-with-docker]:22000)
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

templates="$FLOW_DIR/templates/$VARIANT"
docker_owner="docker:$(id -gn docker)"
slave0_owner="jenkins_slave0:$(id -gn jenkins_slave0)"
if [ "$VARIANT" = as_written ]; then
    # As written, each script in its account's home, the account's own file.
    docker_hop=/home/docker/docker_ssh.sh slave0_hop=/home/jenkins_slave0/jenkins_slave0_ssh.sh
    ensure_file "$docker_hop" 755 "$docker_owner" < "$templates/docker_ssh.sh"
    ensure_file "$slave0_hop" 755 "$slave0_owner" < "$templates/jenkins_slave0_ssh.sh"
else
    # Where root owns them, out of the accounts' reach.
    docker_hop=/usr/local/bin/docker_ssh.sh slave0_hop=/usr/local/bin/jenkins_slave0_ssh.sh
    ensure_file "$docker_hop" 755 root:root < "$templates/docker_ssh.sh"
    ensure_file "$slave0_hop" 755 root:root < "$templates/jenkins_slave0_ssh.sh"
fi

# As written, command= alone; hardened, restrict first (no forwarding of
# ports, agent or X11), pty again for the interactive login the write-up uses
# (`ssh -t docker@host2`, then a shell on the VM), and the real caller as the
# argument.
options='' slave0_caller=myuser
if [ "$VARIANT" = as_written ]; then
    slave0_caller=jenkins
else
    options='restrict,pty,'
fi
key=$(cat "$FLOW_DIR/inputs/myuser.pub")
if [ "$VARIANT" = as_written ]; then
    # Each account's own ~/.ssh/authorized_keys, which the account may rewrite.
    docker_keys=/home/docker/.ssh/authorized_keys keys_owner_docker=$docker_owner
    slave0_keys=/home/jenkins_slave0/.ssh/authorized_keys keys_owner_slave0=$slave0_owner
    keys_mode=600
else
    # Files root owns, named for sshd by a Match block (templates/hardened/sshd-hops.conf).
    ensure_dir /etc/ssh/authorized_keys 755 root:root
    docker_keys=/etc/ssh/authorized_keys/docker keys_owner_docker=root:root
    slave0_keys=/etc/ssh/authorized_keys/jenkins_slave0 keys_owner_slave0=root:root
    keys_mode=644
fi
printf '%scommand="%s myuser" %s\n' "$options" "$docker_hop" "$key" |
    ensure_file "$docker_keys" "$keys_mode" "$keys_owner_docker"
printf '%scommand="%s %s" %s\n' "$options" "$slave0_hop" "$slave0_caller" "$key" |
    ensure_file "$slave0_keys" "$keys_mode" "$keys_owner_slave0"
if [ "$VARIANT" != as_written ]; then
    ensure_block /etc/ssh/sshd_config vps-flows-hop-keys < "$templates/sshd-hops.conf"
    if [ "$FILE_CHANGED" = yes ]; then
        /usr/sbin/sshd -t || fail "sshd refuses /etc/ssh/sshd_config with the hop accounts' Match block"
        systemctl reload "$SSH_SERVICE"
        changed "sshd reloaded"
    fi
fi

ensure_file /home/docker/.ssh/known_hosts 644 "$docker_owner" < "$FLOW_DIR/inputs/vm_known_hosts"
ensure_file /home/jenkins_slave0/.ssh/known_hosts 644 "$slave0_owner" < "$FLOW_DIR/inputs/agent_known_hosts"
