# The agent image as the 2015 write-up builds it on VM-with-docker: the keys
# Jenkins logs in with baked in by the Dockerfile (a new key means a new
# image; whoever can pull the image reads the list), no keys at start.
FROM jenkins-slave0
COPY authorized_keys /home/jenkins/.ssh/authorized_keys
RUN chown -R jenkins:jenkins /home/jenkins/.ssh && chmod 700 /home/jenkins/.ssh \
    && chmod 600 /home/jenkins/.ssh/authorized_keys
