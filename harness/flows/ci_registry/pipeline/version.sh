# shellcheck shell=sh
# Sourced by the pipeline's jobs that send a version to production.
# check_version SCRIPT VERSION: exit 2, saying so, unless VERSION is a Docker
# tag (letters, digits, _ . -, not first . or -, up to 128): a version is
# never a piece of a shell command on production.
check_version() {
    case "$2" in
    '' | [.-]* | *[!A-Za-z0-9_.-]*) ;;
    *) [ ${#2} -gt 128 ] || return 0 ;;
    esac
    echo "$1: not a version (a Docker tag: letters, digits, _ . -, up to 128): $2" >&2
    exit 2
}
