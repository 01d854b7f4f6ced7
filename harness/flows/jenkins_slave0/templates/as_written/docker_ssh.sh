#!/bin/bash
# docker_ssh.sh as the 2015 write-up has it: the forced command of host2's
# `docker` account (authorized_keys: command="/usr/local/bin/docker_ssh.sh myuser").
# It logs the caller and logs in to VM-with-docker as the caller. Its flaws
# are the write-up's: the client's words are split and globbed here, on the
# bastion, before ssh sends them on; and nothing but command= restricts the key.
CALLER=$1
if [ "${CALLER}" != "myuser" ]; then
    echo "Unknown caller: ${CALLER}. Access denied."
    exit 1
fi
logger "docker_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${SSH_ORIGINAL_COMMAND}"
# shellcheck disable=SC2086 # as written: split and globbed here (the hardened script quotes it)
ssh -l "${CALLER}" vm-with-docker ${SSH_ORIGINAL_COMMAND}
