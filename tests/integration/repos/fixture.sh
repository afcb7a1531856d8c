# fixture.sh - shared by the tests of several repositories in one daemon
# (issue 14): the peer tests' LAN (lib/netns.sh: the mirror in namespace
# "mirror", node I in "nI" at 198.18.0.(10+I)) and two publishers with a
# key each:
#
#   av-defs   key $PC_TMP/av.key,     served at $MIRROR/av
#   engine    key $PC_TMP/engine.key, served at $MIRROR/engine
#
# A node runs ONE daemon with a [repository NAME] section per repository
# (no MOUNTPOINT on the command line): mounts $PC_TMP/nodeI/av-defs and
# $PC_TMP/nodeI/engine, cache $PC_TMP/nodeI/cache.
#
# shellcheck source=../peers/fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/../peers/fixture.sh"

REPOS=(av-defs engine)
declare -a REPOS_PID REPOS_LOG REPOS_CONF

# repos_setup: the LAN, the mirror's namespace, and nginx serving
# $PC_TMP/www (publish into $PC_TMP/www/NAME before reading).
repos_setup() {
	peers_setup
	mkdir -p "$PC_TMP/www"
	pc_mirror_start mirror "$MIRROR_ADDR" "$PC_TMP/www"
}

# repos_section NAME MNT MIRROR_DIR KEY: a [repository NAME] section.
repos_section() {
	printf '\n[repository %s]\nmount_point = %s\nmirror = %s/%s\ntrusted_key = %s\n' \
		"$1" "$2" "$PC_MIRROR_URL" "$3" "$4"
}

# repos_conf I [SECTION-ARGS ; SECTION-ARGS ...]: node I's configuration
# file, host-wide keys then the sections given as "NAME DIR KEY" words
# (mounted at $PC_TMP/nodeI/NAME); prints its path.
repos_conf() {
	local i=$1 dir="$PC_TMP/node$1" conf
	shift
	conf="$dir/peercache.conf"
	mkdir -p "$dir"
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\nlog_level = debug\n' \
		"$dir/cache" >"$conf"
	while [ $# -ge 3 ]; do
		repos_section "$1" "$dir/$1" "$2" "$3" >>"$conf"
		shift 3
	done
	echo "$conf"
}

# repos_node_start I CONF: one daemon in namespace nI with CONF, until
# every section's mount point is mounted.  Sets REPOS_PID[I],
# REPOS_LOG[I]; stopped and unmounted at exit.
repos_node_start() {
	local i=$1 conf=$2 dir="$PC_TMP/node$1" deadline mnt
	pc_ns_exists "n$i" || pc_ns_add "n$i" "$(pc_node_addr "$i")/24"
	REPOS_LOG[i]="$dir/daemon.log"
	REPOS_CONF[i]=$conf
	PC_NODE_CACHE[i]="$dir/cache" # for pc_node_ctl, pc_node_stat
	nsenter --net="/run/netns/$(pc_ns "n$i")" -- "$PEERCACHE" -f \
		-c "$conf" >>"${REPOS_LOG[i]}" 2>&1 &
	REPOS_PID[i]=$!
	pc_on_exit "repos_node_cleanup $i ${REPOS_PID[i]}"
	deadline=$((SECONDS + 40))
	for mnt in $(repos_mounts "$conf"); do
		until pc_is_mounted "$mnt"; do
			kill -0 "${REPOS_PID[i]}" 2>/dev/null ||
				fail "node $i exited before mounting $mnt; log:
$(grep -v 'unique: ' "${REPOS_LOG[i]}" | tail -n 30)"
			[ $SECONDS -lt $deadline ] || fail "node $i did not mount $mnt"
			sleep 0.05
		done
	done
}

# repos_mounts CONF: the mount points of CONF's sections.
repos_mounts() {
	awk -F' = ' '$1 == "mount_point" { print $2 }' "$1"
}

# At exit: the daemon stopped, none of its mounts left.
repos_node_cleanup() {
	local i=$1 pid=$2 mnt
	for mnt in $(repos_mounts "${REPOS_CONF[i]}"); do
		pc_daemon_cleanup "$pid" "$mnt" "${REPOS_LOG[i]}"
	done
	if pc_lan_failing && [ -f "${REPOS_LOG[i]}" ]; then
		echo "--- node $i (pid $pid): last lines of its log:" >&2
		grep -v 'unique: ' "${REPOS_LOG[i]}" | tail -n 30 >&2
		pc_lan_keep "${REPOS_LOG[i]}" "node$i.log"
	fi
	return 0
}

# repos_node_stop I: SIGTERM ends the daemon (exit 0) and every one of
# its mounts is gone.
repos_node_stop() {
	local i=$1 pid=${REPOS_PID[$1]} mnt
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "node $i ignored SIGTERM"
	wait "$pid" || fail "node $i exited with status $? on SIGTERM"
	for mnt in $(repos_mounts "${REPOS_CONF[i]}"); do
		! pc_is_mounted "$mnt" || fail "node $i: $mnt still mounted"
	done
	pc_lan_forget "repos_node_cleanup $i $pid"
}

# repos_read I NAME FILE SHA: node I reads FILE from repository NAME's
# mount; its SHA-256 must be SHA.
repos_read() {
	local got
	got=$(sha256sum <"$PC_TMP/node$1/$2/$3" | cut -d' ' -f1) ||
		fail "node $1: reading $2/$3 failed"
	assert_eq "$4" "$got" "node $1: content of $2/$3"
}

# repos_listing I NAME: the files under node I's mount of NAME, sorted,
# one a line, relative to the mount.
repos_listing() {
	(cd "$PC_TMP/node$1/$2" && find . -mindepth 1 | sort)
}
