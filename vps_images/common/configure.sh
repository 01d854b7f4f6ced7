#!/bin/sh
# Make the installed system behave like a real VPS inside a container.
# Runs in the build of every family, after the rootfs/ folders were copied
# over /. SSH_UNIT (ssh or sshd) and ADMIN_GROUP (sudo or wheel) come from
# the family's Dockerfile.
set -eu
: "${SSH_UNIT:?}" "${ADMIN_GROUP:?}"

# The sudo user, reached by key only ('*' is no password, yet not "locked").
groupadd -f docker
useradd --create-home --shell /bin/bash --groups "$ADMIN_GROUP,docker" vps
usermod --password '*' vps
usermod --password '*' root
chmod 0440 /etc/sudoers.d/vps
chmod 0600 /etc/ssh/sshd_config
for home in /root /home/vps; do
    install -d -m 0700 "$home/.ssh"
done
chown vps:vps /home/vps/.ssh

# Host keys are the harness's to give (an ed25519 key at start costs nothing);
# vps-sshd-keys makes one only when none was given.
rm -f /etc/ssh/ssh_host_*

install -D -m 0644 /usr/local/lib/vps-harness/sshd-unit.conf \
    "/etc/systemd/system/$SSH_UNIT.service.d/vps-harness.conf"

# sshd as a service, not socket-activated (Ubuntu 22.10 and later default to
# ssh.socket): the first connection must not wait for sshd to start.
systemctl disable "$SSH_UNIT.socket" 2>/dev/null || true
systemctl enable "$SSH_UNIT.service"

# systemd older than 233 keeps a cgroup of the machine's named systemd
# hierarchy on cgroup-v2 engines (vps-init): released when the VPS stops.
# Through /lib, which is /usr/lib on merged-/usr releases.
install -D -m 0755 /usr/local/lib/vps-harness/shutdown-release /lib/systemd/system-shutdown/vps-harness-release

# Installed, not started: Docker-in-Docker mode lists docker.service in
# /run/vps-harness/units, which this generator enables at boot.
install -D -m 0755 /usr/local/lib/vps-harness/units-generator /etc/systemd/system-generators/vps-harness-units
for unit in docker.service docker.socket containerd.service; do
    systemctl disable "$unit" 2>/dev/null || true
done

# A containerd older than 1.4 cannot start containers where CAP_SYS_RESOURCE
# is withheld; vps-containerd works around it (see there). The bare image has
# no containerd yet: whichever its provisioning installs, vps-containerd
# checks it when it starts.
case "$(containerd --version 2>/dev/null | awk '{print $3}')" in
v1.[0-3].* | 1.[0-3].* | '')
    install -D -m 0644 /usr/local/lib/vps-harness/containerd-unit.conf \
        /etc/systemd/system/containerd.service.d/vps-harness.conf
    ;;
esac

# Units that have no meaning in a container (no kernel modules, disks,
# consoles or devices of its own); each on its own, as not every release has all.
for unit in \
    getty.target console-getty.service \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-modules-load.service modprobe@.service e2scrub_reap.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    sys-fs-fuse-connections.mount dev-hugepages.mount \
    systemd-remount-fs.service; do
    systemctl mask "$unit" >/dev/null 2>&1 || true
done

# Boot-time generators for disks, encryption, hibernation and consoles,
# which a container has none of (rc-local, sysv and the rest still run).
for generator in cryptsetup gpt-auto hibernate-resume integritysetup veritysetup getty; do
    install -d /etc/systemd/system-generators
    ln -sf /dev/null "/etc/systemd/system-generators/systemd-$generator-generator"
done

# Every VPS gets its own machine id at boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
