#!/bin/sh
# production: runs the webapp. User deploy in the docker group, reached from
# the build host's jenkins key, whose only command is webapp-deploy,
# production's side of a deploy.
#   inputs/jenkins.pub   the build host's jenkins public key
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

ensure_user deploy docker
ensure_dir /home/deploy/.ssh 700 "deploy:$(id -gn deploy)"
ensure_file /usr/local/bin/webapp-deploy 755 root:root < "$FLOW_DIR/templates/webapp-deploy"
# The build host's key may run webapp-deploy and nothing else (no shell, no forwarding).
key=$(cat "$FLOW_DIR/inputs/jenkins.pub")
[ -n "$key" ] || fail "inputs/jenkins.pub is empty: the build host's key is the one this account takes"
printf 'restrict,command="/usr/local/bin/webapp-deploy" %s\n' "$key" |
    ensure_file /home/deploy/.ssh/authorized_keys 600 "deploy:$(id -gn deploy)"
