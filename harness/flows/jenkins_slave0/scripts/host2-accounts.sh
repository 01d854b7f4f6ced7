#!/bin/sh
# host2 (the bastion): the accounts laptop's myuser hops through, each with a
# key pair of its own for the next hop (RSA as written, ed25519 hardened).
# shellcheck source=harness/flows/lib/common.sh
. "$FLOW_DIR/lib/common.sh"

key_type=ed25519
[ "$VARIANT" = as_written ] && key_type=rsa
for account in docker jenkins_slave0; do
    ensure_user "$account"
    ensure_key "$account" "$key_type"
done
