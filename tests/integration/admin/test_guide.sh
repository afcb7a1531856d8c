#!/usr/bin/env bash
# The administrator's guide, followed to the letter: every code block of
# docs/ADMIN.md marked "<!-- walk: run -->" is run line by line, in the
# guide's order, and every block marked "<!-- walk: file -->" is written to
# the file its first line names, as an administrator would on a fresh
# Debian 12 host: install from source (make install PREFIX=/usr), keygen,
# the publisher's unit, a node instance, a second instance with its own
# ports.  So the guide and the code cannot drift apart: a step that fails,
# or a name that does not match (a key file, a path), fails this test.
#
# It runs on this host's own /etc, /usr, /var, /srv and the build
# directory, through overlays in private mount and network namespaces
# (lib/scratch.sh): nothing reaches the host.  What differs from a real
# host, and only that:
#  - `make deps` is skipped (the packages are there; it would call apt);
#    `make install` is given BUILD= the build under test;
#  - systemd is not PID 1 here: `systemctl` and `journalctl` run the
#    installed units as systemd would (lib/units.sh);
#  - the mirror https://updates.example.com is an nginx on loopback that
#    serves /srv/www, as the guide says to;
#  - the mirror host's source tree, and the second repository's publisher
#    configuration, are made by the test (the guide assumes them).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/scratch.sh"
pc_scratch_isolate_net "$@"
. "$(dirname "$0")/../lib/nginx.sh"
. "$(dirname "$0")/../lib/units.sh"
pc_setup
BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
pc_scratch_overlay /etc /usr /var /srv "$BUILD_DIR"
GUIDE="$PC_SRC/docs/ADMIN.md"
PC_UNIT_DIR=/usr/lib/systemd/system

# --- what the guide assumes -------------------------------------------------------------
mkdir -p /srv/updates/source/defs /srv/updates/engines
echo "definitions 2026-12-06" >/srv/updates/source/defs/daily.dat
head -c 3000000 /dev/urandom >/srv/updates/source/engine.bin
echo "engine 5.2" >/srv/updates/engines/VERSION
pc_nginx_start /srv/www
MIRROR="http://127.0.0.1:$NGINX_PORT"

# --- systemctl and journalctl, as systemd would do them ---------------------------------
systemctl() {
	local now=false unit
	case "$1" in
	daemon-reload)
		[ -f "$PC_UNIT_DIR/peercache@.service" ] ||
			fail "daemon-reload: no unit in $PC_UNIT_DIR"
		;;
	enable)
		shift
		[ "$1" = --now ] && now=true && shift
		for unit; do
			unit_parse "$unit" # fails if there is no such unit
			case "$unit" in
			*.timer) ;; # the timer would start the service later
			*) ! $now || pc_unit_start "$unit" ;;
			esac
		done
		;;
	start) pc_unit_start "$2" ;;
	stop) pc_unit_stop "$2" ;;
	restart) pc_unit_stop "$2" && pc_unit_start "$2" ;;
	status) pc_unit_status "$2" ;;
	*) fail "systemctl $*: not run by this test" ;;
	esac
}
journalctl() {
	[ "$1" = -u ] || fail "journalctl $*: not run by this test"
	pc_unit_log "$2"
}

# --- the guide's marked blocks ------------------------------------------------------------
# run_line LINE: one command of the guide.
STEP=0
IN_STEP=""
# A step that ends the test from inside (a unit that fails to start) wrote
# its reason to the step's output, where the exit traps' output goes too:
# show it on the test's own stderr (fd 3).
exec 3>&2
show_failed_step() {
	[ -z "$IN_STEP" ] || echo "FAIL: in the guide's step '$IN_STEP':
$(cat "$PC_TMP/step.out")" >&3
}
pc_on_exit show_failed_step
run_line() {
	local line=$1
	STEP=$((STEP + 1))
	case "$line" in
	"" | "#"*) return 0 ;;
	"make deps"*) echo "step $STEP: skipped: $line" >>walk.log; return 0 ;;
	"make install"*) line="${line%%#*} BUILD=$BUILD_DIR" ;;
	esac
	line=${line//https:\/\/updates.example.com/$MIRROR}
	echo "step $STEP: $line" >>"$PC_TMP/walk.log"
	# In this shell, not a subshell: what systemctl starts is stopped at
	# exit.  Run from the source tree, where `make install` is typed.
	IN_STEP=$line
	cd "$PC_SRC"
	if ! eval "$line" >"$PC_TMP/step.out" 2>&1; then
		fail "the guide's command failed: $line
$(cat "$PC_TMP/step.out")"
	fi
	cd "$PC_TMP"
	IN_STEP=""
	cat step.out >>walk.log
}

# write_file: the block in $FILE_LINES to the file its first line names.
write_file() {
	local path=${FILE_LINES[0]#\# }
	[[ "$path" == /* ]] || fail "a 'walk: file' block does not start with '# /path': ${FILE_LINES[0]}"
	[ -d "$(dirname "$path")" ] || fail "the guide writes $path, but no step made $(dirname "$path")"
	printf '%s\n' "${FILE_LINES[@]}" | sed "s#https://updates.example.com#$MIRROR#g" >"$path"
	echo "wrote $path" >>walk.log
}

# The second repository's publisher, as the first one's (the guide shows
# one; an administrator with two repositories has two such files).
publish_engines() {
	sed -e 's#^SOURCE=.*#SOURCE=/srv/updates/engines#' -e 's#^REPO=.*#REPO=/srv/www/engines#' \
		-e 's#^NAME=.*#NAME=engines#' /etc/peercache/publish-av-updates.env \
		>/etc/peercache/publish-engines.env
	pc_unit_start peercache-publish@engines
}

# blocks: "KIND<TAB>LINE" for each line of each block marked
# "<!-- walk: KIND -->", and "KIND<TAB>" (empty) after each block; and a
# "hook<TAB>engines" line just before the guide starts peercache@engines,
# where the test publishes the second repository.
blocks() {
	awk '/^<!-- walk: [a-z]+ -->$/ { kind = $3; next }
	     kind != "" && /^```/ { if (inside) { print kind "\t"; kind = ""; inside = 0 }
	                            else inside = 1; next }
	     inside { print kind "\t" $0 }' "$GUIDE" |
		awk -F '\t' '$1 == "run" && $2 ~ /peercache@engines/ && !done { print "hook\tengines"; done = 1 } { print }'
}
# walk: the guide's marked blocks, in order.
walk() {
	local kind line
	FILE_LINES=()
	while IFS=$'\t' read -r kind line; do
		case "$kind" in
		run) [ -z "$line" ] || run_line "$line" ;;
		hook) publish_engines ;;
		file)
			if [ -n "$line" ] || [ "${#FILE_LINES[@]}" = 0 ]; then
				FILE_LINES+=("$line")
			else
				write_file
				FILE_LINES=()
			fi
			;;
		ganesha) ;; # tests/integration/admin/test_nfs_two_exports.sh
		*) fail "unknown mark 'walk: $kind' in $GUIDE" ;;
		esac
	done < <(blocks)
}
[ "$(blocks | grep -c $'^run\t$')" -ge 4 ] || fail "fewer than 4 'walk: run' blocks in $GUIDE"
walk

# --- what the guide promised -------------------------------------------------------------
for path in /usr/bin/peercache /usr/bin/peercachectl /usr/bin/peercache-publish \
	/usr/share/doc/peercache/ADMIN.md /usr/share/doc/peercache/BENCHMARKS.md \
	/usr/share/man/man5/peercache.conf.5; do
	[ -f "$path" ] || fail "the guide's install did not install $path"
done
if grep -nE '(^|[^/A-Za-z])docs/[A-Za-z]+\.md' "$GUIDE"; then
	fail "the guide cites source paths (docs/...): an installed system has /usr/share/doc/peercache"
fi
for cited in $(grep -oE '/usr/share/doc/peercache/[A-Za-z.]+' "$GUIDE" | sort -u); do
	[ -e "$cited" ] || fail "the guide cites $cited, which the install does not have"
done
[ -d /var/cache/peercache ] && [ -d /srv/peercache ] || fail "tmpfiles made no /var/cache/peercache or /srv/peercache"
assert_eq "755" "$(stat -c %a /etc/peercache)" "mode of /etc/peercache"
assert_eq "600" "$(stat -c %a /etc/peercache/signing.key)" "mode of the signing key"
assert_file_same /srv/updates/source/defs/daily.dat /srv/peercache/av-updates/defs/daily.dat
assert_file_same /srv/updates/source/engine.bin /srv/peercache/av-updates/engine.bin
assert_file_same /srv/updates/engines/VERSION /srv/peercache/engines/VERSION
grep -q 'serving av-updates version 1 on /srv/peercache/av-updates' walk.log ||
	fail "systemctl status did not say what the guide says: $(cat walk.log)"
# Both instances have their LAN services, on their own ports.
ss -ltnH >listening.txt
for port in 8081 8083; do
	grep -qE "[:.]$port\b" listening.txt || fail "nothing listens on $port: $(cat listening.txt)"
done
# And the guide's warning holds: a third instance on the default ports fails.
cat >/etc/peercache/packages.conf <<EOF
[peercache]
mirror = $MIRROR/av-updates
trusted_key = /etc/peercache/signing.key.pub
EOF
pc_run timeout -k 5 60 /usr/bin/peercache -f -c /etc/peercache/packages.conf \
	-o cache_dir=/var/cache/peercache/packages /srv/peercache/packages
[ "$PC_RC" != 0 ] || fail "a third instance on the default ports started"
assert_contains "$PC_OUT" "cannot listen on" "a third instance on the default ports"
rm /etc/peercache/packages.conf
for name in engines av-updates; do
	systemctl stop "peercache@$name"
done
[ -z "${PC_VERBOSE:-}" ] || cat walk.log
echo "ok: the guide walked, $STEP lines"
