#!/bin/sh
# jenkins_slave0_ssh.sh, hardened: the forced command of host2's
# `jenkins_slave0` account (restrict,pty,command="/usr/local/bin/jenkins_slave0_ssh.sh myuser").
# The log names the real caller; the login on the jenkins-slave0 container
# (VM-with-docker:22000) is `jenkins`, with this account's own key. The
# client's command is never evaluated here (see docker_ssh.sh).
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
logger "jenkins_slave0_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${command}"
if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
    exec ssh -o BatchMode=yes -p 22000 -l jenkins vm-with-docker -- "$SSH_ORIGINAL_COMMAND"
fi
exec ssh -o BatchMode=yes -p 22000 -l jenkins vm-with-docker
