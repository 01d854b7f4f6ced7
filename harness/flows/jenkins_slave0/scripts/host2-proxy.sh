#!/bin/sh
# host2: nginx on 443 with a self-signed certificate for docker.my.domain,
# proxying to VM-with-docker's Docker API for laptop's address only.
#   VARIANT     as_written | hardened
#   LAPTOP_IP   the one address allowed
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

templates="$FLOW_DIR/templates/$VARIANT"
ensure_packages nginx openssl

crt="$SSL_DIR/certs/docker.my.domain.crt"
key="$SSL_DIR/private/docker.my.domain.key"
if [ -f "$crt" ] && [ -f "$key" ]; then
    ok "certificate $crt"
else
    mkdir -p "$SSL_DIR/certs" "$SSL_DIR/private"
    # umask 077: OpenSSL before 1.1 writes the key with the umask's mode.
    if [ "$VARIANT" = as_written ]; then
        # The CN only, as in 2015: Go clients (the docker CLI) refuse it since Go 1.15.
        (umask 077 && openssl req -x509 -nodes -days 365 -newkey rsa:2048 -subj /CN=docker.my.domain \
            -keyout "$key" -out "$crt" 2>/dev/null)
    else
        (umask 077 && openssl req -x509 -nodes -days 365 -newkey rsa:2048 -config "$templates/openssl.cnf" \
            -keyout "$key" -out "$crt" 2>/dev/null)
    fi
    chmod 644 "$crt"
    changed "certificate $crt"
fi
# What clients trust (curl --cacert, the docker CLI's ca.pem), where the driver reads it
# (the flow's own output, not the server's state).
ensure_file "$FLOW_DIR/outputs/docker.my.domain.crt" 644 root:root < "$crt"

# TLS 1.3 where this nginx knows it (1.13.0 and later), else TLS 1.2 alone.
protocols='TLSv1.2 TLSv1.3'
version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
if [ "$(printf '%s\n1.13.0\n' "$version" | sort -t. -k1,1n -k2,2n -k3,3n | head -n 1)" != 1.13.0 ]; then
    protocols='TLSv1.2'
fi
ensure_rendered "$NGINX_SITE" 644 root:root "$templates/nginx-site.conf" \
    SSL_DIR="$SSL_DIR" LAPTOP_IP="$LAPTOP_IP" TLS_PROTOCOLS="$protocols"
site_changed=$FILE_CHANGED

# nginx's own check first: a config it refuses says why, and the old one keeps running.
if ! test_output=$(nginx -t 2>&1); then
    echo "$test_output" >&2
    fail "nginx refuses $NGINX_SITE"
fi
if systemctl is-enabled -q nginx 2>/dev/null; then
    ok "nginx enabled"
else
    systemctl enable nginx
    changed "nginx enabled"
fi
if [ "$site_changed" = yes ] || ! systemctl is-active -q nginx; then
    systemctl restart nginx
    changed "nginx (re)started"
else
    ok "nginx running"
fi
