#!/bin/sh
# docker_ssh.sh, hardened: the forced command of host2's `docker` account
# (authorized_keys: restrict,command="/usr/local/bin/docker_ssh.sh myuser").
# The client's command is one word handed to ssh after `--`: the bastion never
# evaluates it (no splitting, globbing or options from it); VM-with-docker's
# login shell does. The `--` goes after the destination: OpenSSH reads
# options after the destination too, and before 8.x (Ubuntu 16.04's 7.2)
# even past a `--` placed before it, so `-oProxyCommand=...` as the client's
# command would run on the bastion. Root owns this file; the account it restricts cannot write it.
set -u
CALLER=${1:-}
case "$CALLER" in
myuser) ;;
*)
    echo "Unknown caller: ${CALLER}. Access denied."
    exit 1
    ;;
esac
# The client's command on one log line: a newline or carriage return in it is
# written as \n or \r, so no client can forge a second line.
command=$(printf '%s' "${SSH_ORIGINAL_COMMAND:-}" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g' -e 's/\r/\\r/g')
logger "docker_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${command}"
if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
    exec ssh -o BatchMode=yes -l "$CALLER" vm-with-docker -- "$SSH_ORIGINAL_COMMAND"
fi
exec ssh -o BatchMode=yes -l "$CALLER" vm-with-docker
