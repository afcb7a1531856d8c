#!/usr/bin/env bash
# The Debian package, end to end: `make deb` builds it (debhelper, from a
# copy of the tree; the CMake directory is kept below the build under test,
# so a later run compiles only what changed) and lintian finds nothing;
# dpkg-deb -c / -I show the expected files, no conffiles and nothing in
# /etc; `apt-get install ./peercache_*.deb` installs it into this machine
# as seen through overlays in a private mount namespace (lib/scratch.sh:
# dpkg's database, /usr, /etc, /var of the host, none of it touched); the
# postinst made /etc/peercache, /var/cache/peercache and /srv/peercache;
# the installed binaries, man pages and units work (a repository is
# published, and mounted by the installed peercache@.service run as
# systemd runs it, lib/units.sh); and `apt-get purge` leaves nothing
# behind.  The package does not depend on the build under test, so the
# sanitizer builds skip this test (exit 77): CI runs it once.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/scratch.sh"
BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
if grep -qE '^PC_SANITIZE:[A-Z]*=.+' "$BUILD_DIR/CMakeCache.txt"; then
	echo "skipped: a sanitizer build (the package is built once, in the normal build)"
	exit 77
fi
pc_scratch_isolate "$@"
. "$(dirname "$0")/../lib/units.sh"
pc_setup

VERSION=$(sed -n 's/^project(peercache VERSION \([0-9.]*\).*/\1/p' "$PC_SRC/CMakeLists.txt")
ARCH=$(dpkg --print-architecture)
DEB_BUILD="$BUILD_DIR/deb-package"
DEB="$DEB_BUILD/peercache_${VERSION}_${ARCH}.deb"

# --- make deb, and lintian ---------------------------------------------------------
make -s -C "$PC_SRC" deb DEB_BUILD="$DEB_BUILD" >make-deb.log 2>&1 ||
	fail "make deb failed:
$(tail -40 make-deb.log)"
[ -f "$DEB" ] || fail "make deb made no $DEB: $(ls "$DEB_BUILD")"
lintian --pedantic --info --display-experimental --fail-on error,warning,info,pedantic \
	"$DEB_BUILD/peercache_${VERSION}_${ARCH}.changes" >lintian.log 2>&1 ||
	fail "lintian: $(cat lintian.log)"
if grep -E '^[EWIPX]: ' lintian.log; then
	fail "lintian has tags: $(cat lintian.log)"
fi

# --- what the package holds ----------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's#^\./#/#; s#/$##' | sort >contents.list
for path in /usr/bin/peercache /usr/bin/peercachectl /usr/bin/peercache-publish \
	/lib/systemd/system/peercache@.service /lib/systemd/system/peercache-publish@.service \
	/lib/systemd/system/peercache-publish@.timer /usr/lib/tmpfiles.d/peercache.conf \
	/usr/share/doc/peercache/ADMIN.md /usr/share/doc/peercache/BENCHMARKS.md \
	/usr/share/doc/peercache/peercache.conf.example /usr/share/doc/peercache/copyright \
	/usr/share/man/man8/peercache.8.gz /usr/share/man/man8/peercachectl.8.gz \
	/usr/share/man/man1/peercache-publish.1.gz /usr/share/man/man5/peercache.conf.5.gz \
	/usr/share/bash-completion/completions/peercachectl \
	/usr/share/bash-completion/completions/peercache-publish; do
	grep -qxF "$path" contents.list || fail "the package lacks $path:
$(cat contents.list)"
done
if grep -E '^/etc' contents.list; then
	fail "the package ships files in /etc"
fi
dpkg-deb -I "$DEB" >info.txt
assert_contains "$(cat info.txt)" "Package: peercache" "dpkg-deb -I"
assert_contains "$(cat info.txt)" "Version: $VERSION" "dpkg-deb -I"
assert_contains "$(cat info.txt)" "Depends: fuse3" "dpkg-deb -I"
assert_not_contains "$(cat info.txt)" "conffiles" "dpkg-deb -I: a conffiles member"

# --- install it into the scratch root -----------------------------------------------------
pc_scratch_overlay /etc /usr /var /srv
[ ! -e /etc/peercache ] && [ ! -e /var/cache/peercache ] ||
	fail "this host already has /etc/peercache or /var/cache/peercache"
DEBIAN_FRONTEND=noninteractive apt-get install -y "$DEB" \
	>apt-install.log 2>&1 || fail "apt-get install failed: $(cat apt-install.log)"
dpkg-query -W -f='${Status} ${Version}\n' peercache >status.txt
assert_eq "install ok installed $VERSION" "$(cat status.txt)" "dpkg status"
assert_eq "" "$(dpkg-query -W -f='${Conffiles}' peercache)" "conffiles"
dpkg -L peercache | sort >installed.list
for dir in /etc/peercache /var/cache/peercache /srv/peercache; do
	[ -d "$dir" ] || fail "the package did not make $dir"
	assert_eq "755 root root" "$(stat -c '%a %U %G' "$dir")" "mode and owner of $dir"
done

# --- the installed binaries, man pages and units ----------------------------------------------
pc_run /usr/bin/peercache --version
assert_eq "peercache $VERSION" "$PC_OUT" "installed peercache --version"
expect_status 0 "usage: peercachectl" "installed peercachectl --help" /usr/bin/peercachectl --help
for page in peercache peercachectl peercache-publish peercache.conf; do
	MANWIDTH=80 man --warnings "$page" >man.txt 2>man.err ||
		fail "man $page: $(cat man.err)"
	[ ! -s man.err ] || fail "man $page warns: $(cat man.err)"
done
/usr/bin/peercache-publish keygen /etc/peercache/signing.key >/dev/null
mkdir -p src
echo "installed" >src/VERSION
/usr/bin/peercache-publish --key /etc/peercache/signing.key --name pkgtest \
	--no-progress src /srv/pkgtest-repo >/dev/null
cat >/etc/peercache/pkgtest.conf <<EOF
[peercache]
mirror = file:///srv/pkgtest-repo
trusted_key = /etc/peercache/signing.key.pub
discovery = off
peer_server = off
EOF
PC_UNIT_DIR=/lib/systemd/system
pc_unit_start peercache@pkgtest
assert_eq "installed" "$(cat /srv/peercache/pkgtest/VERSION)" "a file through the installed unit's mount"
expect_status 0 "repository:  pkgtest" "installed peercachectl status" /usr/bin/peercachectl status
pc_unit_stop peercache@pkgtest

# --- purge: nothing left ----------------------------------------------------------------------
# The administrator's own files stay on a purge (as with any package); the
# guide says to remove them first.
rm -f /etc/peercache/signing.key /etc/peercache/signing.key.pub /etc/peercache/pkgtest.conf
rm -rf /srv/pkgtest-repo
DEBIAN_FRONTEND=noninteractive apt-get purge -y peercache >apt-purge.log 2>&1 ||
	fail "apt-get purge failed: $(cat apt-purge.log)"
if dpkg-query -W -f='${Status}\n' peercache 2>/dev/null | grep -q installed; then
	fail "peercache is still installed: $(dpkg-query -W -f='${Status}' peercache)"
fi
while read -r path; do
	case "$path" in
	/. | /lib | /usr | /usr/* | /lib/systemd | /lib/systemd/system) [ -d "$path" ] && continue ;;
	esac
	[ ! -e "$path" ] || fail "left behind after purge: $path"
done <installed.list
for dir in /etc/peercache /var/cache/peercache /srv/peercache; do
	[ ! -e "$dir" ] || fail "left behind after purge: $dir ($(ls -A "$dir"))"
done
# Nothing named after the package in the scratch root's writes but the
# deletions (whiteouts), dpkg's and apt's logs, and the pages `man`
# formatted above (man-db's own cache, which it prunes itself).
find "$PC_TMP/scratch" -name '*peercache*' ! -type c >left.list
grep -vE '/var\.upper/(log|lib/dpkg|cache/man)/' left.list >left-unexpected.list || true
[ ! -s left-unexpected.list ] || fail "left behind after purge: $(cat left-unexpected.list)"
echo "ok: peercache_${VERSION}_${ARCH}.deb built, lintian-clean, installed, used and purged"
