#!/bin/bash
# jenkins_slave0_ssh.sh as the 2015 write-up has it: the forced command of
# host2's `jenkins_slave0` account, in that account's own home. It promises a
# `jenkins` login on the jenkins-slave0 container (VM-with-docker:22000) yet
# logs in as the caller: so its argument must be `jenkins`
# (command="/home/jenkins_slave0/jenkins_slave0_ssh.sh jenkins"), and the log
# says caller=jenkins whoever called. The same `-z` guard, `exit -1`, `ssh -t`
# and word splitting as docker_ssh.sh. (The message's wording is this project's.)
CALLER=$1
if [ -z "${CALLER}" ]; then
    echo "No caller given. Access denied."
    # shellcheck disable=SC2242 # as written: exit -1 (the shell makes it 255)
    exit -1
fi
logger "jenkins_slave0_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${SSH_ORIGINAL_COMMAND}"
# shellcheck disable=SC2086 # as written: split and globbed here (the hardened script quotes it)
ssh -t -p 22000 -l "${CALLER}" vm-with-docker ${SSH_ORIGINAL_COMMAND}
