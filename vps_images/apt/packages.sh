#!/bin/sh
# Install what a freshly provisioned VPS of this release has. Runs in the build.
set -eu
export DEBIAN_FRONTEND=noninteractive

# A bootstrapped base lists only the release pocket; a server also follows
# -updates (and, on Ubuntu, -security, which the same archive carries). Each
# new line reuses the mirror and components of the release line already there,
# so no mirror is named here.
# shellcheck source=/dev/null
. /etc/os-release
if [ -f /etc/apt/sources.list ]; then
    pockets="updates"
    [ "$ID" = ubuntu ] && pockets="updates security"
    grep '^deb ' /etc/apt/sources.list | while read -r _ url suite components; do
        case "$suite" in *-*) continue ;; esac
        for pocket in $pockets; do
            grep -q "^deb [^ ]* $suite-$pocket " /etc/apt/sources.list ||
                echo "deb $url $suite-$pocket $components" >> /etc/apt/sources.list
        done
    done
fi

# No service starts during the build.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

# rsync and python3-apt are on every cloud image of these releases: outside
# tools (rsync, Ansible's apt module) expect them on a server.
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    openssh-server sudo systemd systemd-sysv dbus \
    curl ca-certificates iproute2 iputils-ping procps less python3 python3-apt rsync
# The Docker engine, unless this is the bare image (DOCKER=no), whose
# provisioning installs it as on a new server.
if [ "${DOCKER:-yes}" = yes ]; then
    apt-get install -y -qq --no-install-recommends docker.io iptables
    # Debian 13 moved the client out of docker.io into docker-cli, which docker.io
    # only recommends: a server's `apt-get install docker.io` has it either way.
    command -v docker >/dev/null || apt-get install -y -qq --no-install-recommends docker-cli
fi
apt-get clean
rm -f /usr/sbin/policy-rc.d
