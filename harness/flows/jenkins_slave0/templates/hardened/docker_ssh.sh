#!/bin/sh
# docker_ssh.sh, hardened: the forced command of host2's `docker` account
# (authorized_keys: restrict,command="/usr/local/bin/docker_ssh.sh myuser").
# The client's command is one word handed to ssh after `--`: the bastion never
# evaluates it (no splitting, globbing or options from it); VM-with-docker's
# login shell does. Root owns this file; the account it restricts cannot write it.
set -u
CALLER=${1:-}
case "$CALLER" in
myuser) ;;
*)
    echo "Unknown caller: ${CALLER}. Access denied."
    exit 1
    ;;
esac
logger "docker_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${SSH_ORIGINAL_COMMAND:-}"
if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
    exec ssh -o BatchMode=yes -l "$CALLER" -- vm-with-docker "$SSH_ORIGINAL_COMMAND"
fi
exec ssh -o BatchMode=yes -l "$CALLER" -- vm-with-docker
