#!/bin/sh
# jenkins: the build host, an SSH agent of a Jenkins master. User jenkins in
# the docker group, reached with the master's key; its own key pair for the
# deploy to production, whose host key it knows.
#   inputs/master.pub      the Jenkins master's public key
#   inputs/known_hosts     production's host key line
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

ensure_user jenkins docker
ensure_key jenkins ed25519
group=$(id -gn jenkins)
ensure_file /home/jenkins/.ssh/authorized_keys 600 "jenkins:$group" < "$FLOW_DIR/inputs/master.pub"
if [ -f "$FLOW_DIR/inputs/known_hosts" ]; then
    ensure_file /home/jenkins/.ssh/known_hosts 644 "jenkins:$group" < "$FLOW_DIR/inputs/known_hosts"
fi
