#!/bin/bash
# docker_ssh.sh as the 2015 write-up has it: the forced command of host2's
# `docker` account, kept in that account's own home (authorized_keys:
# command="/home/docker/docker_ssh.sh myuser"), so the account may rewrite
# it. It logs the caller and logs in to VM-with-docker as the caller, with
# `ssh -t` (a terminal for the interactive hop; without one ssh warns and goes
# on). Its flaws are the write-up's: the guard only checks that a caller was
# given (`-z`, then `exit -1`, which is 255); the client's words are split and
# globbed here, on the bastion, and ssh reads any that look like options, even
# after the host name; nothing but command= restricts the key.
# (The wording of the two messages is this project's.)
CALLER=$1
if [ -z "${CALLER}" ]; then
    echo "No caller given. Access denied."
    # shellcheck disable=SC2242 # as written: exit -1 (the shell makes it 255)
    exit -1
fi
logger "docker_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${SSH_ORIGINAL_COMMAND}"
# shellcheck disable=SC2086 # as written: split and globbed here (the hardened script quotes it)
ssh -t -l "${CALLER}" vm-with-docker ${SSH_ORIGINAL_COMMAND}
