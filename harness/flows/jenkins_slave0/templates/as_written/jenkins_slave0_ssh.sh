#!/bin/bash
# jenkins_slave0_ssh.sh as the 2015 write-up has it: the forced command of
# host2's `jenkins_slave0` account. It promises a `jenkins` login on the
# jenkins-slave0 container (VM-with-docker:22000) yet logs in as the caller:
# so its argument must be `jenkins` (command=".../jenkins_slave0_ssh.sh jenkins"),
# and the log says caller=jenkins whoever called.
CALLER=$1
if [ "${CALLER}" != "jenkins" ]; then
    echo "Unknown caller: ${CALLER}. Access denied."
    exit 1
fi
logger "jenkins_slave0_ssh.sh: caller=${CALLER} host=${SSH_CLIENT%% *} command=${SSH_ORIGINAL_COMMAND}"
# shellcheck disable=SC2086 # as written: split and globbed here (the hardened script quotes it)
ssh -p 22000 -l "${CALLER}" vm-with-docker ${SSH_ORIGINAL_COMMAND}
