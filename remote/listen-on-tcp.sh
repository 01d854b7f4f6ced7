#!/bin/sh
# Make this DinD VPS's engine also listen on TCP port PORT (default 2375) of every address, as
# `dockerd -H tcp://0.0.0.0:2375` does on a build host, keeping its own options (-H fd:// and
# the rest of its unit's ExecStart); wait until it answers there.
#   listen-on-tcp [PORT [TLS-DIR]]
# With TLS-DIR (ca.pem, server-cert.pem, server-key.pem, and a client's cert.pem and key.pem for
# the check), only clients with a certificate of that CA get in (dockerd --tlsverify).
set -eu
port=${1:-2375}
tls=${2:-}
line=$(systemctl cat docker.service | sed -n 's/^ExecStart=\(..*\)$/\1/p' | tail -1)
options="-H tcp://0.0.0.0:$port"
check="-H tcp://127.0.0.1:$port"
if [ -n "$tls" ]; then
    options="$options --tlsverify --tlscacert=$tls/ca.pem --tlscert=$tls/server-cert.pem --tlskey=$tls/server-key.pem"
    check="--tlsverify --tlscacert=$tls/ca.pem --tlscert=$tls/cert.pem --tlskey=$tls/key.pem $check"
fi
install -d /etc/systemd/system/docker.service.d
printf '[Service]\nExecStart=\nExecStart=%s %s\n' "$line" "$options" >/etc/systemd/system/docker.service.d/tcp.conf
systemctl daemon-reload
systemctl restart docker
for _ in $(seq 100); do
    # shellcheck disable=SC2086 # $check is several options
    docker $check version >/dev/null 2>&1 && exit 0
    sleep 0.2
done
echo "the engine does not answer on tcp://127.0.0.1:$port" >&2
exit 1
