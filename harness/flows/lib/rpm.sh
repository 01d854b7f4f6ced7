# shellcheck shell=sh disable=SC2034 # the scripts that source it use these
# The rpm family (CentOS, Rocky): packages and where things live.
SSH_SERVICE=sshd
HTPASSWD_PACKAGE=httpd-tools
# The Docker engine from the distribution's archive (CentOS 7's; EL9 has none).
DOCKER_PACKAGES=docker
SSL_DIR=/etc/pki/tls
NGINX_SITE=/etc/nginx/conf.d/default.conf

package_installed() {
    rpm -q "$1" >/dev/null 2>&1
}

install_packages() {
    # shellcheck disable=SC2068 # one word per package
    yum install -y -q $@ >/dev/null
}
