#!/bin/sh
# laptop: the operator's workstation. User myuser with an RSA key pair and,
# once host2 exists, host2's host key (as after a first contact) and the
# proxy's certificate for the docker CLI (~myuser/.docker/ca.pem).
#   inputs/known_hosts   lines for ~myuser/.ssh/known_hosts (optional)
#   inputs/ca.pem        the proxy's certificate (optional)
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

ensure_user myuser
ensure_key myuser rsa
if [ -f "$FLOW_DIR/inputs/known_hosts" ]; then
    ensure_file /home/myuser/.ssh/known_hosts 644 myuser:myuser < "$FLOW_DIR/inputs/known_hosts"
fi
if [ -f "$FLOW_DIR/inputs/ca.pem" ]; then
    ensure_dir /home/myuser/.docker 700 myuser:myuser
    ensure_file /home/myuser/.docker/ca.pem 644 myuser:myuser < "$FLOW_DIR/inputs/ca.pem"
fi
