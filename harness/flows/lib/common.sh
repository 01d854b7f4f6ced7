# shellcheck shell=sh
# What every flow script sources: idempotent steps that say what they changed.
#
# Each step prints one line, "changed: WHAT" when it had to act or "ok: WHAT"
# when the server was already so; a second run of a script prints only "ok:".
# The package family's own paths and commands come from lib/apt.sh or
# lib/rpm.sh, picked by what the server has.
set -eu

FLOW_DIR=${FLOW_DIR:-$(cd "$(dirname "$0")/.." && pwd)}

changed() { echo "changed: $*"; }
ok() { echo "ok: $*"; }
fail() {
    echo "error: $*" >&2
    exit 1
}

# quote VALUE: VALUE as one word of a shell command line, in single quotes
# (what bash's printf %q is for; dash has no %q).
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# wait_for SECONDS COMMAND...: run COMMAND (its output dropped) every 0.1 s
# until it succeeds or SECONDS of wall time have passed; its last status.
# WAITED is the seconds it really waited, for the message of a caller that
# gives up (a count of tries says nothing when each try itself takes time).
wait_for() {
    limit=$1
    shift
    started=$(date +%s)
    while :; do
        if "$@" >/dev/null 2>&1; then
            WAITED=$(($(date +%s) - started))
            return 0
        fi
        WAITED=$(($(date +%s) - started))
        [ "$WAITED" -lt "$limit" ] || return 1
        sleep 0.1
    done
}

if command -v apt-get >/dev/null 2>&1; then
    # shellcheck source=harness/flows/lib/apt.sh
    . "$FLOW_DIR/lib/apt.sh"
elif command -v yum >/dev/null 2>&1; then
    # shellcheck source=harness/flows/lib/rpm.sh
    . "$FLOW_DIR/lib/rpm.sh"
else
    fail "neither apt-get nor yum: not a package family these flows know"
fi

# ensure_packages PACKAGE...: install those not installed yet.
ensure_packages() {
    missing=''
    for package in "$@"; do
        package_installed "$package" || missing="$missing $package"
    done
    if [ -z "$missing" ]; then
        ok "packages $*"
        return
    fi
    # shellcheck disable=SC2086 # one word per package
    install_packages $missing
    changed "installed$missing"
}

# ensure_user NAME [GROUP...]: a user with a home and a login shell, in GROUPs.
ensure_user() {
    name=$1
    shift
    if id -u "$name" >/dev/null 2>&1; then
        ok "user $name"
    else
        if getent group "$name" >/dev/null; then
            # A group of that name exists (docker, made by docker.io): never join it
            # (it opens the Docker socket); the account's group is `users`.
            useradd -m -s /bin/bash -N -g users "$name"
        else
            useradd -m -s /bin/bash "$name"
        fi
        changed "user $name"
    fi
    for group in "$@"; do
        if id -nG "$name" | tr ' ' '\n' | grep -qx "$group"; then
            ok "user $name in group $group"
        else
            usermod -aG "$group" "$name"
            changed "user $name in group $group"
        fi
    done
}

# ensure_key USER TYPE: USER's own key pair ~/.ssh/id_TYPE (rsa: 2048 bits), made once.
ensure_key() {
    user=$1 type=$2
    home=$(getent passwd "$user" | cut -d: -f6)
    key="$home/.ssh/id_$type"
    ensure_dir "$home/.ssh" 700 "$user:$(id -gn "$user")"
    if [ -f "$key" ]; then
        ok "key $key"
        return
    fi
    bits=''
    [ "$type" = rsa ] && bits='-b 2048'
    # su takes one command line: each value goes into it quoted (su's own
    # option parsing reads words after the login on some systems).
    su -s /bin/sh "$user" -c "ssh-keygen -q -t $(quote "$type") $bits -N '' -C $(quote "$user@$(hostname)") -f $(quote "$key")"
    changed "key $key"
}

# ensure_file DEST MODE OWNER[:GROUP] < CONTENT: DEST holds exactly CONTENT,
# with that mode and owner. FILE_CHANGED says whether it had to write.
ensure_file() {
    dest=$1 mode=$2 owner=$3
    tmp=$(mktemp)
    cat > "$tmp"
    FILE_CHANGED=no
    if [ -f "$dest" ] && cmp -s "$tmp" "$dest" &&
        [ "$(stat -c '%a %U:%G' "$dest")" = "$(printf '%o' "0$mode") $owner" ]; then
        ok "file $dest"
    else
        install -D -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$tmp" "$dest"
        # shellcheck disable=SC2034 # the caller reads it
        FILE_CHANGED=yes
        changed "file $dest"
    fi
    rm -f "$tmp"
}

# ensure_block FILE NAME < CONTENT: CONTENT between "# BEGIN NAME" and "# END NAME"
# lines at the end of FILE (where sshd_config's Match blocks must go), as
# Ansible's blockinfile marks its blocks; the rest of FILE is left as it is.
# FILE_CHANGED as ensure_file.
ensure_block() {
    file=$1 name=$2
    wanted=$(mktemp)
    have=$(mktemp)
    { echo "# BEGIN $name"; cat; echo "# END $name"; } > "$wanted"
    sed -n "/^# BEGIN $name\$/,/^# END $name\$/p" "$file" > "$have"
    FILE_CHANGED=no
    if cmp -s "$wanted" "$have"; then
        ok "block $name in $file"
    else
        sed -i "/^# BEGIN $name\$/,/^# END $name\$/d" "$file"
        cat "$wanted" >> "$file"
        # shellcheck disable=SC2034 # the caller reads it
        FILE_CHANGED=yes
        changed "block $name in $file"
    fi
    rm -f "$wanted" "$have"
}

# ensure_dir DIR MODE OWNER:GROUP: a directory with that mode and owner.
ensure_dir() {
    if [ -d "$1" ] && [ "$(stat -c '%a %U:%G' "$1")" = "$(printf '%o' "0$2") $3" ]; then
        ok "directory $1"
    else
        install -d -m "$2" -o "${3%%:*}" -g "${3#*:}" "$1"
        changed "directory $1"
    fi
}

# ensure_rendered DEST MODE OWNER TEMPLATE NAME=VALUE...: DEST holds the
# rendered template (see render, ensure_file); FILE_CHANGED as ensure_file.
ensure_rendered() {
    dest=$1 mode=$2 owner=$3
    shift 3
    rendered=$(mktemp)
    render "$@" > "$rendered"
    ensure_file "$dest" "$mode" "$owner" < "$rendered"
    rm -f "$rendered"
}

# render TEMPLATE NAME=VALUE...: the template with each @NAME@ replaced by VALUE.
render() {
    template=$1
    shift
    script=''
    for pair in "$@"; do
        value=$(printf '%s' "${pair#*=}" | sed 's/[\\|&]/\\&/g')
        script="${script}s|@${pair%%=*}@|${value}|g;"
    done
    sed "$script" "$template"
}
