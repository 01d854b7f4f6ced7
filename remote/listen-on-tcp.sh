#!/bin/sh
# Make this DinD VPS's engine also listen on TCP port ${1:-2375} of every address, as
# `dockerd -H tcp://0.0.0.0:2375` does on a build host, keeping its own options
# (-H fd:// and the rest of its unit's ExecStart); wait until it answers there.
set -eu
port=${1:-2375}
line=$(systemctl cat docker.service | sed -n 's/^ExecStart=\(..*\)$/\1/p' | tail -1)
install -d /etc/systemd/system/docker.service.d
printf '[Service]\nExecStart=\nExecStart=%s -H tcp://0.0.0.0:%s\n' "$line" "$port" \
    >/etc/systemd/system/docker.service.d/tcp.conf
systemctl daemon-reload
systemctl restart docker
for _ in $(seq 100); do
    docker -H "tcp://127.0.0.1:$port" version >/dev/null 2>&1 && exit 0
    sleep 0.2
done
echo "the engine does not answer on tcp://127.0.0.1:$port" >&2
exit 1
