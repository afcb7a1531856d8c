# shellcheck shell=bash
# fleet.sh - helpers shared by the LAN benchmarks (bench/fleet.sh,
# bench/peers.sh), sourced.  They build on the integration tests' libraries
# (tests/integration/lib: common.sh, repo.sh, nginx.sh, mount.sh, netns.sh),
# which they source read-only, and add what a benchmark needs on top:
#
#   fleet_setup NAME BUILD [wan]
#                            sources the libraries and bench/lib/common.sh,
#                            makes $PC_TMP on tmpfs (/dev/shm: the nodes'
#                            caches and the mirror's files stay in memory,
#                            so the disk of the machine is out of the
#                            figures), installs the traps, copies the
#                            binaries under test, and builds the LAN
#                            (namespaces "fleet-<pid>-*") with the mirror's
#                            namespace at $FLEET_MIRROR_ADDR (with "wan":
#                            no mirror on the LAN; the benchmark makes its
#                            own and defines fleet_serve)
#   fleet_publish SRC        publishes SRC into $PC_TMP/repo, serves it from
#                            the mirror (fleet_serve) and sets the nodes'
#                            default options
#   fleet_publish_big MIB    the same for a big.bin of MIB MiB of random
#                            data; sets file_bytes and file_sha
#   fleet_chunks FILE        the chunk ids of FILE in the current version
#   fleet_chunk_bytes        body bytes the mirror sent for chunks/ so far
#                            (pc_mirror_chunk_bytes prints sums above
#                            2^31 as 2.8e+09 under mawk)
#   fleet_node_start I [-o K=V]...
#                            pc_node_start, then waits (30 s at most) until
#                            the node has installed the repository's version
#   fleet_node_stop I        stops node I (it must exit 0 and unmount),
#                            keeps its log's warnings and errors, and wipes
#                            its cache: the next start of I is cold
#   fleet_complaints         prints how many warnings and errors the nodes
#                            logged, and the first ones
#
# PC_FLEET_OPTS="-o KEY=VALUE ..." adds options to every node (after the
# benchmark's defaults, before its per-run options), e.g. to try
# discovery_timeout=200ms.  PC_FLEET_LOGS=DIR keeps the nodes' logs (every
# run of node I appended to DIR/nodeI.log) and the mirror's access log
# (DIR/mirror.log) for a look afterwards, e.g. with
# PC_FLEET_LOG_LEVEL=debug.  Both scripts read these.
#
# Why not pc_lan_setup: it names the namespaces after the directory of $0
# ("bench-<pid>"); the benchmarks' namespaces carry their own area name.

FLEET_MIRROR_ADDR=198.18.0.1
# shellcheck disable=SC2034 # used by the benchmarks
FLEET_MIB=$((1024 * 1024))

fleet_setup() {
	local name=$1 build=$2 where=${3:-lan} here

	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	[ -x "$build/bin/peercache" ] || {
		echo "$name: $build/bin/peercache not found; build first" >&2
		exit 1
	}
	[ "$(id -u)" -eq 0 ] || {
		echo "$name: needs root (FUSE mounts, network namespaces)" >&2
		exit 1
	}
	export PC_BIN="$build/bin" # until the copy below
	# shellcheck source=SCRIPTDIR/common.sh
	. "$here/common.sh"
	local lib=$here/../../tests/integration/lib
	# shellcheck source=SCRIPTDIR/../../tests/integration/lib/common.sh
	. "$lib/common.sh"
	# shellcheck source=SCRIPTDIR/../../tests/integration/lib/repo.sh
	. "$lib/repo.sh"
	# shellcheck source=SCRIPTDIR/../../tests/integration/lib/nginx.sh
	. "$lib/nginx.sh"
	# shellcheck source=SCRIPTDIR/../../tests/integration/lib/mount.sh
	. "$lib/mount.sh"
	# shellcheck source=SCRIPTDIR/../../tests/integration/lib/netns.sh
	. "$lib/netns.sh"

	# Like pc_setup, but on tmpfs and named after the benchmark.
	PC_TMP=$(mktemp -d "/dev/shm/pc-$name.XXXXXX")
	trap pc_cleanup EXIT
	set -E
	trap 'pc_on_error $? "$BASH_COMMAND"' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd "$PC_TMP" || exit 1

	# The binaries under test, copied: a rebuild during the run must not
	# mix two versions in one table.
	mkdir "$PC_TMP/bin"
	cp "$build/bin/peercache" "$build/bin/peercachectl" \
		"$build/bin/peercache-publish" "$PC_TMP/bin/"
	PC_BIN=$PC_TMP/bin PEERCACHE=$PC_BIN/peercache
	PEERCACHECTL=$PC_BIN/peercachectl PUBLISH=$PC_BIN/peercache-publish

	# The LAN, as pc_lan_setup builds it, under the benchmark's name.
	PC_LAN_PREFIX="fleet-$$"
	pc_ns_create sw
	ip -n "$(pc_ns sw)" link add br0 type bridge ||
		fail "cannot create the bridge"
	ip -n "$(pc_ns sw)" link set br0 up
	[ "$where" = wan ] || pc_ns_add mirror "$FLEET_MIRROR_ADDR/24"
	# Registered first, so it runs last: after the nodes and nginx stopped.
	[ -z "${PC_FLEET_LOGS:-}" ] || pc_on_exit fleet_keep_logs
}

fleet_keep_logs() {
	local log
	mkdir -p "$PC_FLEET_LOGS"
	for log in "$PC_TMP"/node*/daemon.log; do
		[ -f "$log" ] || continue
		cp "$log" "$PC_FLEET_LOGS/$(basename "$(dirname "$log")").log"
	done
	[ -z "${PC_MIRROR_LOG:-}" ] || cp "$PC_MIRROR_LOG" "$PC_FLEET_LOGS/mirror.log"
	echo "logs kept in $PC_FLEET_LOGS"
}

# fleet_publish_big MIB: publishes big.bin, MIB MiB of fresh random data,
# alone; sets file_bytes and file_sha (its size and SHA-256).
fleet_publish_big() {
	echo "generating and publishing $1 MiB of random data..."
	mkdir src
	random_file src/big.bin "$1"
	# shellcheck disable=SC2034 # used by the benchmarks
	file_bytes=$(stat -c %s src/big.bin)
	# shellcheck disable=SC2034
	file_sha=$(sha256sum <src/big.bin | cut -d' ' -f1)
	fleet_publish src
	rm -rf src # the repository holds it; tmpfs is memory
}

fleet_publish() {
	pc_keygen "$PC_TMP/key"
	"$PUBLISH" --key "$PC_TMP/key" --name fleet --no-progress "$1" \
		"$PC_TMP/repo" >"$PC_TMP/publish.log" 2>&1 ||
		fail "publish failed: $(cat "$PC_TMP/publish.log")"
	fleet_serve
	PC_NODE_OPTS=(-o mirror="$PC_MIRROR_URL"
		-o trusted_key="$PC_TMP/key.pub"
		-o log_level="${PC_FLEET_LOG_LEVEL:-info}")
	# shellcheck disable=SC2206 # words: "-o key=value -o key=value"
	PC_NODE_OPTS+=(${PC_FLEET_OPTS:-})
}

# fleet_serve: nginx in the mirror's namespace serves $PC_TMP/repo; sets
# PC_MIRROR_URL (pc_mirror_start).  A benchmark with its own mirror
# redefines it after sourcing this file.
fleet_serve() {
	pc_mirror_start mirror "$FLEET_MIRROR_ADDR" "$PC_TMP/repo"
}

fleet_chunks() {
	manifest_file_chunks "$(manifest_path "$PC_TMP/repo")" "$1"
}

fleet_chunk_bytes() {
	awk '$2 ~ /^\/chunks\// { sum += $4 } END { printf "%.0f\n", sum }' \
		"$PC_MIRROR_LOG"
}

fleet_node_start() {
	local i=$1 deadline=$((SECONDS + 30)) version
	shift
	pc_node_start "$i" "$@"
	until version=$(pc_node_ctl "$i" --json status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' \
			2>/dev/null) && [ "${version:-0}" != 0 ]; do
		[ $SECONDS -lt $deadline ] ||
			fail "node $i installed no version in 30 s"
		sleep 0.1
	done
}

# The EXIT trap would stop a node that is still running; one stopped here
# must leave the list, or the trap would signal its pid after another
# process may have been given it.
fleet_forget_cleanup() {
	local i
	for i in "${!PC_CLEANUPS[@]}"; do
		[ "${PC_CLEANUPS[i]}" != "$1" ] || unset 'PC_CLEANUPS[i]'
	done
	PC_CLEANUPS=("${PC_CLEANUPS[@]}")
}

fleet_node_stop() {
	local i=$1 pid=${PC_NODE_PID[$1]}
	pc_node_stop "$i"
	fleet_forget_cleanup "pc_node_cleanup $i $pid"
	grep -v 'unique: ' "${PC_NODE_LOG[i]}" | grep -iE 'error|warn' |
		sed "s/^/node $i: /" >>"$PC_TMP/complaints" || true
	rm -rf "${PC_NODE_CACHE[i]}"
}

fleet_complaints() {
	if [ -s "$PC_TMP/complaints" ]; then
		echo "  daemon logs: $(wc -l <"$PC_TMP/complaints") warnings or errors, first ones:"
		head -n 5 "$PC_TMP/complaints" | cut -c1-160 | sed 's/^/    /'
	else
		echo "  daemon logs: no warnings or errors"
	fi
}
