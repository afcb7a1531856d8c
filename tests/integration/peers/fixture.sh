# fixture.sh - shared by the LAN peer tests: the mount tests' fixture
# (libraries, pc_publish, pc_random, pc_sha), the namespace LAN
# (lib/netns.sh), and the layout every peer test uses:
#
#   198.18.0.1        the mirror (nginx), namespace "mirror"
#   198.18.0.(10+I)   node I, namespace "nI"
#   198.18.0.66       a fake peer (test_fake_peer)
#   198.18.0.100-     clients (test_uploads)
#   198.19.0.0/24     outside the nodes' subnet (test_probe_acl)
#
# shellcheck source=../mount/fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/fixture.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/netns.sh"

PEER_TOOL="$PC_BIN/pc-peer-tool"
MIRROR_ADDR=198.18.0.1
MiB=$((1024 * 1024))

# peers_setup: the test's directory, traps and LAN with the mirror's
# namespace.
peers_setup() {
	pc_setup
	[ -x "$PEER_TOOL" ] || fail "$PEER_TOOL is missing (build pc-peer-tool)"
	pc_lan_setup
	pc_ns_add mirror "$MIRROR_ADDR/24"
}

# peers_serve SRC: publishes SRC into $PC_TMP/repo, serves it from the
# mirror's namespace and sets the nodes' default options.  Nodes log at
# debug level (shown when a test fails).
peers_serve() {
	pc_publish "$1" "$PC_TMP/repo"
	pc_mirror_start mirror "$MIRROR_ADDR" "$PC_TMP/repo"
	PC_NODE_OPTS=(-o mirror="$PC_MIRROR_URL" -o trusted_key="$PC_TMP/key.pub"
		-o log_level=debug)
}

# peers_read I FILE SHA: node I reads FILE from its mount; its SHA-256
# must be SHA.
peers_read() {
	local got
	got=$(sha256sum <"${PC_NODE_MNT[$1]}/$2" | cut -d' ' -f1) ||
		fail "node $1: reading $2 failed"
	assert_eq "$3" "$got" "node $1: content of $2"
}

# peers_chunks FILE: the chunk ids of FILE in the current version.
peers_chunks() {
	manifest_file_chunks "$(manifest_path "$PC_TMP/repo")" "$1"
}

# peers_no_chunk_twice: the mirror sent no chunk more than once.
peers_no_chunk_twice() {
	local dups
	dups=$(pc_mirror_chunk_gets | cut -d' ' -f1 | sort | uniq -d)
	[ -z "$dups" ] || fail "the mirror sent $(echo "$dups" | wc -l) chunks more than once, e.g.:
$(echo "$dups" | head -n 3)
chunk GETs per client: $(pc_mirror_chunk_gets | cut -d' ' -f2 | sort | uniq -c | xargs)"
}

# peers_wait_log I REGEX SECONDS: until node I's log has a matching line.
peers_wait_log() {
	local deadline=$((SECONDS + $3))
	until grep -qE "$2" "${PC_NODE_LOG[$1]}"; do
		[ $SECONDS -lt $deadline ] ||
			fail "node $1 never logged /$2/ in $3 s"
		sleep 0.1
	done
}
