# shellcheck shell=bash
# fixture.sh - shared by the many-sites tests: the mount tests' fixture
# (pc_publish, pc_random, pc_sha), the namespace LAN (lib/netns.sh), one
# site behind a WAN link with squid on its gateway (site.sh, which says
# the addresses), and:
#
#   sites_setup                   pc_setup, the site's LAN
#   sites_publish SRC             publishes SRC into $PC_TMP/repo (the
#                                 next version; key made on first use)
#   sites_node_opts [-o K=V]...   PC_NODE_OPTS: the mirror through squid,
#                                 the test's key, debug logs, then the
#                                 given options
#   sites_read I FILE SHA         node I reads FILE; its SHA-256 is SHA
#   sites_read_all FILE I...      nodes I... read FILE at the same moment
#   sites_version I               the version node I serves
#   sites_wait_version I VERSION SINCE SECONDS
#                                 until node I serves VERSION, at most
#                                 SECONDS after SINCE
#   sites_mirror_file_bytes FILE  body bytes the mirror sent for FILE's
#                                 chunks (current version)
#
# shellcheck source=../mount/fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/fixture.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/netns.sh"
. "$(dirname "${BASH_SOURCE[0]}")/site.sh"

# The nodes have no route to the mirror: every byte they get from it
# comes through squid.
sites_setup() {
	pc_setup
	pc_lan_setup
}

sites_publish() {
	pc_publish "$1" "$PC_TMP/repo"
}

sites_node_opts() {
	PC_NODE_OPTS=(-o mirror="http://$MIRROR_ADDR"
		-o proxy="http://$SQUID_ADDR:$SQUID_PORT"
		-o trusted_key="$PC_TMP/key.pub" -o log_level=debug "$@")
}

sites_read() {
	local got
	got=$(sha256sum <"${PC_NODE_MNT[$1]}/$2" | cut -d' ' -f1) ||
		fail "node $1: reading $2 failed"
	assert_eq "$3" "$got" "node $1: content of $2"
}

# (status exits 3 or 4 when stale or failing, as while squid restarts.)
sites_version() {
	local json
	json=$(pc_node_ctl "$1" status --json) || true
	pc_json_get "$json" version
}

# sites_read_all FILE I...: nodes I... read FILE through their mounts, all
# starting at one signal (bounded), and wait for every reader.
sites_read_all() {
	local file=$1 i readers=()
	shift
	rm -f "$PC_TMP/go"
	for i; do
		(
			for _ in $(seq 500); do
				[ -e "$PC_TMP/go" ] && break
				sleep 0.01
			done
			cat "${PC_NODE_MNT[i]}/$file" >/dev/null
		) &
		readers+=($!)
	done
	sleep 0.3
	touch "$PC_TMP/go"
	for i; do
		wait "${readers[0]}" || fail "node $i could not read $file"
		readers=("${readers[@]:1}")
	done
}

# sites_mirror_file_bytes FILE: body bytes the mirror sent for FILE's
# chunks in the current version.
sites_mirror_file_bytes() {
	local chunks
	chunks=$(manifest_file_chunks "$(manifest_path "$PC_TMP/repo")" "$1")
	awk 'NR == FNR { want["/chunks/" substr($1, 1, 2) "/" $1] = 1; next }
	     $1 == "GET" && ($2 in want) { sum += $4 }
	     END { printf "%.0f\n", sum }' <(echo "$chunks") "$PC_MIRROR_LOG"
}

# sites_wait_version I VERSION SINCE SECONDS: until node I serves VERSION,
# at most SECONDS after SINCE (a `date +%s.%N`); says how long it took.
sites_wait_version() {
	local v took
	while :; do
		v=$(sites_version "$1")
		took=$(awk -v a="$3" -v b="$(date +%s.%N)" \
			'BEGIN { printf "%.1f", b - a }')
		if [ "$v" = "$2" ]; then
			echo "node $1 serves version $2, $took s after it was published"
			return 0
		fi
		awk -v t="$took" -v s="$4" 'BEGIN { exit !(t < s) }' ||
			fail "node $1 serves version $v, not $2, $took s after it was published"
		sleep 0.1
	done
}
