#!/usr/bin/env bash
# `make install` is `cmake --install` of the build: into a DESTDIR it puts
# exactly the expected files (three binaries, the systemd units, the
# tmpfiles.d entry, the sample configuration and environment files, the
# docs, the man pages, the bash completions), the units name the installed binaries and docs, the tmpfiles
# entry creates the cache directory, and the installed binaries run.
# The build under test is the one CTest runs from (PC_BIN/..): nothing is
# built here.
set -eu
. "$(dirname "$0")/../lib/common.sh"
pc_setup

BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
CACHE="$BUILD_DIR/CMakeCache.txt"
[ -f "$CACHE" ] || fail "no CMakeCache.txt in $BUILD_DIR (PC_BIN=$PC_BIN)"

# cache_var NAME: a variable of the build's CMake cache.
cache_var() {
	sed -n "s/^$1:[A-Z]*=//p" "$CACHE"
}
PREFIX=$(cache_var CMAKE_INSTALL_PREFIX)
UNITDIR=$(cache_var PC_SYSTEMD_UNITDIR)
TMPFILESDIR=$(cache_var PC_TMPFILESDIR)
# GNUInstallDirs caches the docs directory empty when it is its default,
# DATAROOTDIR/doc/PROJECT_NAME.
DOCDIR=$(cache_var CMAKE_INSTALL_DOCDIR)
DATAROOTDIR=$(cache_var CMAKE_INSTALL_DATAROOTDIR)
DOCDIR=${DOCDIR:-${DATAROOTDIR:-share}/doc/peercache}
MANDIR=$(cache_var CMAKE_INSTALL_MANDIR)
MANDIR=${MANDIR:-${DATAROOTDIR:-share}/man}
COMPLETIONSDIR=$(cache_var PC_COMPLETIONS_DIR)
[ -n "$PREFIX" ] && [ -n "$UNITDIR" ] && [ -n "$TMPFILESDIR" ] &&
	[ -n "$DOCDIR" ] ||
	fail "install locations missing from $CACHE: prefix '$PREFIX', units '$UNITDIR', tmpfiles '$TMPFILESDIR', docs '$DOCDIR'"

# The Makefile's install target is this same cmake --install, with
# DESTDIR passed through.
pc_run make -s -n -C "$PC_SRC" install BUILD="$BUILD_DIR" DESTDIR=/ops-dest
assert_contains "$PC_OUT" "DESTDIR=\"/ops-dest\" cmake --install $BUILD_DIR" \
	"make -n install"

DEST="$PC_TMP/ops-install-root"
DESTDIR="$DEST" cmake --install "$BUILD_DIR" >install.log 2>&1 ||
	fail "cmake --install failed: $(cat install.log)"

# --- exactly the expected files --------------------------------------------
{
	for f in peercache peercache-publish peercachectl; do
		echo "$PREFIX/bin/$f"
	done
	for f in peercache@.service peercache-publish@.service \
		peercache-publish@.timer; do
		echo "$PREFIX/$UNITDIR/$f"
	done
	echo "$PREFIX/$TMPFILESDIR/peercache.conf"
	for f in README.md ADMIN.md FORMAT.md CONTROL.md PROTOCOL.md peercachectl.md \
		BENCHMARKS.md peercache.conf.example peercache.env.example \
		publish.env.example; do
		echo "$PREFIX/$DOCDIR/$f"
	done
	for f in man8/peercache.8 man8/peercachectl.8 man1/peercache-publish.1 \
		man5/peercache.conf.5; do
		echo "$PREFIX/$MANDIR/$f"
	done
	for f in peercachectl peercache-publish; do
		echo "$PREFIX/$COMPLETIONSDIR/$f"
	done
} | sed 's#//*#/#g' | sort >expected.list
(cd "$DEST" && find . \( -type f -o -type l \) | sed 's#^\.##' | sort) >actual.list
diff -u expected.list actual.list >diff.txt ||
	fail "installed files differ from the expected list:
$(cat diff.txt)"

ROOT="$DEST$PREFIX"
for f in peercache peercache-publish peercachectl; do
	[ -x "$ROOT/bin/$f" ] || fail "$ROOT/bin/$f is not executable"
done
pc_run "$ROOT/bin/peercache" --version
assert_eq 0 "$PC_RC" "installed peercache --version"
assert_contains "$PC_OUT" "peercache " "installed peercache --version"
pc_run "$ROOT/bin/peercachectl" --help
assert_eq 0 "$PC_RC" "installed peercachectl --help"
pc_run "$ROOT/bin/peercache-publish" --help
assert_contains "$PC_OUT" "peercache-publish keygen" \
	"installed peercache-publish --help"

# --- the units name what was installed ------------------------------------------
for unit in "$ROOT/$UNITDIR"/*; do
	if grep -nE '@[A-Z_]+@' "$unit" >placeholders.txt; then
		fail "$(basename "$unit") has unsubstituted placeholders: $(cat placeholders.txt)"
	fi
	grep -E '^Documentation=' "$unit" >/dev/null ||
		fail "$(basename "$unit") has no Documentation="
	doc=$(sed -n 's#^Documentation=file:##p' "$unit")
	[ -f "$DEST$doc" ] || fail "$(basename "$unit"): Documentation=file:$doc is not installed"
done
assert_contains "$(cat "$ROOT/$UNITDIR/peercache@.service")" \
	"ExecStart=$PREFIX/bin/peercache -f " "peercache@.service ExecStart"
assert_contains "$(cat "$ROOT/$UNITDIR/peercache-publish@.service")" \
	"ExecStart=$PREFIX/bin/peercache-publish " \
	"peercache-publish@.service ExecStart"
assert_file_same "$PC_SRC/systemd/peercache.conf.example" \
	"$ROOT/$DOCDIR/peercache.conf.example"
assert_file_same "$PC_SRC/docs/ADMIN.md" "$ROOT/$DOCDIR/ADMIN.md"

# --- the tmpfiles entry is valid and makes the directories --------------------------
pc_run systemd-tmpfiles --root="$DEST" --create "$ROOT/$TMPFILESDIR/peercache.conf"
[ "$PC_RC" = 0 ] && [ -z "$PC_OUT" ] ||
	fail "systemd-tmpfiles on the installed entry: status $PC_RC: $PC_OUT"
for dir in /var/cache/peercache /srv/peercache; do
	[ -d "$DEST$dir" ] || fail "tmpfiles did not create $dir"
	assert_eq "755 root" "$(stat -c '%a %U' "$DEST$dir")" "mode and owner of $dir"
done
echo "ok: $(wc -l <actual.list) files installed under $PREFIX"
