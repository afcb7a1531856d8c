#!/bin/sh
# agent-installer 1.2.3 - installs the (demo) endpoint agent.
#
# A stand-in for a vendor's install package.  Without --yes it only prints
# what it would do; with --yes it writes under $PREFIX and nowhere else.
set -eu

VERSION=1.2.3
PREFIX=${PREFIX:-/opt/demo-agent}
UPDATES=${UPDATES:-/var/lib/peercache/mnt}
APPLY=no
[ "${1:-}" = "--yes" ] && APPLY=yes

run() {
	if [ "$APPLY" = yes ]; then
		"$@"
	else
		echo "would run: $*"
	fi
}

echo "demo agent $VERSION: installing into $PREFIX"
run mkdir -p "$PREFIX/etc"
# The agent reads definitions straight from the peercache mount: every
# endpoint sees the same verified files, fetched once per site.
run ln -sfn "$UPDATES/definitions" "$PREFIX/definitions"
run cp "$0" "$PREFIX/etc/installed-by.sh"
if [ "$APPLY" = yes ]; then
	echo "installed"
else
	echo "nothing changed; run with --yes to install"
fi
