#!/bin/sh
# Installs the Debian packages peercache builds and tests with, only those
# missing.  Idempotent and non-interactive; needs root (or sudo) when
# something is missing.  The list is the single source of truth: CI and
# `make deps` both run this.
set -eu

PACKAGES="
build-essential cmake pkg-config clang libclang-rt-dev clang-format
libfuse3-dev fuse3 libcurl4-openssl-dev liblmdb-dev lmdb-utils libssl-dev
libuv1-dev libmicrohttpd-dev libinih-dev libcmocka-dev libsystemd-dev
libjansson-dev
nginx-light squid curl openssl iproute2 util-linux util-linux-extra procps
psmisc python3 fio
attr systemd nfs-ganesha nfs-ganesha-vfs libnfs-utils strace
scdoc man-db bash-completion debhelper dpkg-dev fakeroot lintian
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx and squid must not be started as system services by their packages:
# tests start their own instances (on loopback, in network namespaces).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
