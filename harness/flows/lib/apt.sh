# shellcheck shell=sh disable=SC2034 # the scripts that source it use these
# The apt family (Debian, Ubuntu): packages and where things live.
SSH_SERVICE=ssh
HTPASSWD_PACKAGE=apache2-utils
# The Docker engine from the distribution's archive.
DOCKER_PACKAGES=docker.io
SSL_DIR=/etc/ssl
NGINX_SITE=/etc/nginx/sites-available/default

package_installed() {
    dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The package lists the image came with first; fresh ones when they are gone or stale.
install_packages() {
    # shellcheck disable=SC2068 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $@ >/dev/null 2>&1 || {
        apt-get update -qq
        # shellcheck disable=SC2068
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $@ >/dev/null
    }
}
