#!/usr/bin/env bash
# A configuration with one [repository NAME] section (issue 14, stage 2),
# as an administrator uses it:
#  1. `peercache -c CONF` with no MOUNTPOINT mounts the section's
#     mount_point (created if missing) and reads a file through it, with
#     the section's mirror and key; NAME is the name the head must carry;
#  2. --print-config prints the section, and its output loads back to the
#     same configuration;
#  3. `peercachectl -c CONF` finds the daemon (status) and checks the
#     section's mirror (check);
#  4. a section whose NAME is not the head's: the head is refused, naming
#     both;
#  5. refused at once, nothing mounted, nothing asked of the mirror: a
#     MOUNTPOINT beside two sections, nested or equal mount points, a cache
#     inside a mount point, a MOUNTPOINT other than the section's, a
#     top-level mirror beside a section, a host-wide key in a section.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir -p src/sub
echo "definitions 1" >src/defs.txt
head -c 300000 /dev/urandom >src/sub/engine.bin
pc_publish src repo # repository name: test
pc_nginx_start "$PC_TMP/repo"
KEY="$PC_TMP/key.pub"

# section NAME MNT [EXTRA-LINE...]: a [repository NAME] section.
section() {
	local name=$1 mnt=$2
	shift 2
	printf '[repository %s]\nmount_point = %s\nmirror = %s\ntrusted_key = %s\n' \
		"$name" "$mnt" "$NGINX_URL" "$KEY"
	[ $# -eq 0 ] || printf '%s\n' "$@"
}

# host CACHE: the host-wide keys of every configuration here.
host() {
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\nfetch_timeout = 4s\n' "$1"
	printf 'discovery = off\npeer_server = off\n\n'
}

# start_daemon CONF: peercache -f -c CONF (no MOUNTPOINT) in the
# background, until "mounted on MNT"; stopped at exit.
start_daemon() {
	local conf=$1 mnt=$2 deadline=$((SECONDS + 40))
	DAEMON_LOG="$PC_TMP/daemon.$(basename "$conf").log"
	"$PEERCACHE" -f -c "$conf" >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	pc_on_exit "pc_daemon_cleanup $DAEMON_PID $mnt $DAEMON_LOG"
	until grep -qxF "peercache: mounted on $mnt" "$DAEMON_LOG"; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
			fail "peercache -c $conf exited before mounting; log:
$(cat "$DAEMON_LOG")"
		[ $SECONDS -lt $deadline ] || fail "$mnt not mounted after 40 s; log:
$(cat "$DAEMON_LOG")"
		sleep 0.05
	done
}

stop_daemon() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || fail "peercache exited with $? on SIGTERM; log:
$(cat "$DAEMON_LOG")"
	! pc_is_mounted "$1" || fail "$1 still mounted after SIGTERM"
}

# --- 1. one section: mounted at its mount_point, read through ----------------------
MNT="$PC_TMP/srv/test" # missing: created
{ host "$PC_TMP/cache"; section test "$MNT"; } >one.conf
start_daemon one.conf "$MNT"
assert_eq "definitions 1" "$(cat "$MNT/defs.txt")" "a file through the section's mount point"
assert_file_same src/sub/engine.bin "$MNT/sub/engine.bin"

# --- 2. --print-config: the section, and a round trip -----------------------------
pc_run "$PEERCACHE" -c one.conf --print-config
assert_eq 0 "$PC_RC" "--print-config of one.conf: $PC_OUT"
assert_contains "$PC_OUT" "[repository test]
mount_point = $MNT
mirror = $NGINX_URL
trusted_key = $KEY" "--print-config prints the section"
assert_not_contains "$PC_OUT" "repository =" "--print-config with a section"
echo "$PC_OUT" >printed.conf
first=$PC_OUT
pc_run "$PEERCACHE" -c printed.conf --print-config
assert_eq 0 "$PC_RC" "--print-config of its own output: $PC_OUT"
assert_eq "$first" "$PC_OUT" "--print-config of the printed configuration"

# --- 3. peercachectl -c CONF --------------------------------------------------------
pc_run "$PEERCACHECTL" -c one.conf status --json
assert_eq 0 "$PC_RC" "peercachectl -c one.conf status: $PC_OUT"
assert_eq test "$(pc_json_get "$PC_OUT" repository)" "status --json repository"
assert_eq 1 "$(pc_json_get "$PC_OUT" version)" "status --json version"
assert_eq "$NGINX_URL" "$(pc_json_get "$PC_OUT" mirrors)" "status --json mirrors"
pc_run "$PEERCACHECTL" -c one.conf check
assert_eq 0 "$PC_RC" "peercachectl -c one.conf check: $PC_OUT"
assert_contains "$PC_OUT" "$NGINX_URL" "check tries the section's mirror"
stop_daemon "$MNT"

# --- 4. NAME is the name the head must carry ---------------------------------------
OTHER="$PC_TMP/srv/other"
{ host "$PC_TMP/cache-other"; section other "$OTHER"; } >other.conf
start_daemon other.conf "$OTHER"
[ ! -e "$OTHER/defs.txt" ] || fail "a head for 'test' served in [repository other]"
pc_run "$PEERCACHECTL" -c other.conf status --json
assert_contains "$(pc_json_get "$PC_OUT" last_error)" \
	"head is for repository 'test', not 'other'" "status of [repository other]"
stop_daemon "$OTHER"

# --- 5. refusals at start -------------------------------------------------------------
# refused WHAT NEEDLE CONF [ARG...]: a refusal at once (exit 2 for what
# the configuration shows, 1 for what start-up finds on the one mount
# point served), NEEDLE said, nothing mounted, nothing asked of the mirror.
refused() {
	local what=$1 needle=$2 conf=$3 before
	shift 3
	before=$(wc -l <"$NGINX_LOG")
	pc_run timeout -k 5 20 "$PEERCACHE" -f -c "$conf" "$@"
	if grep -q " $PC_TMP/m[^ ]* fuse" /proc/mounts; then
		grep " $PC_TMP/m[^ ]* fuse" /proc/mounts | awk '{ print $2 }' |
			xargs -r -n1 umount -l
		fail "$what: the daemon mounted something; output: $PC_OUT"
	fi
	[ "$PC_RC" != 0 ] && [ "$PC_RC" -lt 124 ] ||
		fail "$what: exit status $PC_RC, expected a refusal; output:
$PC_OUT"
	assert_contains "$PC_OUT" "$needle" "$what"
	assert_eq "$before" "$(wc -l <"$NGINX_LOG")" "$what: requests to the mirror"
}
M="$PC_TMP/m"
{ host "$PC_TMP/c2"; section a "$M/a"; section b "$M/b"; } >two.conf
# Two sections are served by one daemon (tests/integration/repos/), each
# at its mount_point: a MOUNTPOINT on the command line is refused.
refused "two sections and a MOUNTPOINT" "peercache: MOUNTPOINT $M/a: the configuration has 2 [repository NAME] sections, each mounted at its mount_point: give none" two.conf "$M/a"
pc_run "$PEERCACHE" -c two.conf --print-config
assert_eq 0 "$PC_RC" "--print-config of two sections: $PC_OUT"
assert_contains "$PC_OUT" "[repository b]" "--print-config of two sections"

{ host "$PC_TMP/c2"; section a "$M/a"; section b "$M/a/b"; } >nested.conf
refused "nested mount points" "the mount_point of [repository a], $M/a, and that of [repository b], $M/a/b, are nested" nested.conf
expect_status 2 "are nested" "--print-config of nested mount points" \
	"$PEERCACHE" -c nested.conf --print-config
mkdir -p "$M/a"
ln -sfn "$M/a" "$M/link-to-a"
{ host "$PC_TMP/c2"; section a "$M/a"; section b "$M/link-to-a/"; } >same.conf
refused "the same mount point (through a link)" "[repository a] and [repository b] have the same mount_point, $M/a" same.conf

{ host "$M/a/cache"; section a "$M/a"; } >cache-inside.conf
refused "cache_dir inside the mount point" "cache_dir $M/a/cache is inside the mount point $M/a" cache-inside.conf
{ host "$PC_TMP/c2"; section a "$M/a"; section b "$M/b"; } >cache-inside-2.conf
sed -i "s|^cache_dir = .*|cache_dir = $M/b/cache|" cache-inside-2.conf
refused "cache_dir inside the second mount point" "[repository b]: cache_dir $M/b/cache is inside the mount point $M/b" cache-inside-2.conf

refused "a MOUNTPOINT other than the section's" "MOUNTPOINT $M/x is not $MNT, the mount_point of [repository test]" one.conf "$M/x"
{ host "$PC_TMP/c2"; echo "mirror = $NGINX_URL"; section a "$M/a"; } >mixed.conf
refused "a top-level mirror beside a section" "mixed.conf:8: mirror at the top level, but the file has [repository NAME] sections (the first at line 9)" mixed.conf
{ host "$PC_TMP/c2"; section a "$M/a" "quota = 1G"; } >host-key.conf
refused "a host-wide key in a section" "host-key.conf:12: quota: host-wide key, not allowed in [repository a]: put it in [peercache]" host-key.conf

# The same MOUNTPOINT as the section's (what the unit passes) is taken.
start_daemon_with_mnt() {
	DAEMON_LOG="$PC_TMP/daemon.mnt.log"
	"$PEERCACHE" -f -c one.conf "$MNT/" >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	pc_on_exit "pc_daemon_cleanup $DAEMON_PID $MNT $DAEMON_LOG"
	local deadline=$((SECONDS + 40))
	until grep -qxF "peercache: mounted on $MNT/" "$DAEMON_LOG"; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
			fail "peercache -c one.conf $MNT/ exited; log:
$(cat "$DAEMON_LOG")"
		[ $SECONDS -lt $deadline ] || fail "not mounted after 40 s"
		sleep 0.05
	done
}
start_daemon_with_mnt
assert_eq "definitions 1" "$(cat "$MNT/defs.txt")" "with MOUNTPOINT = the section's"
stop_daemon "$MNT"
echo "ok: one [repository NAME] section mounts, reads, prints, round-trips; 10 refusals"
