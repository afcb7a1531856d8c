#!/usr/bin/env bash
# The mirror's headers and the node's, through squid: a mirror configured
# as docs/ADMIN.md ("Many sites") says, behind the site's squid configured
# as it says, keeps both properties:
#
#  - chunks are immutable and cached: the second node's reads are hits in
#    squid's log, and the mirror sent every chunk once;
#  - the head is never served stale: a version published after a node's
#    poll is seen at its next poll (once by the poll timer, then by
#    `peercachectl refresh`, which polls the same way), every poll reaches
#    the mirror, and a chunk the mirror did not have yet (404) is not
#    remembered.
#
# Then each side alone keeps the head fresh when the other is
# misconfigured: a squid that ignores the nodes' `Cache-Control: no-cache`
# (refresh_pattern ... ignore-reload) still asks the mirror, because the
# head says `no-cache`, and two heads published within the same second
# still differ to it (no ETag, no If-Modified-Since on the head); a mirror
# that gives the head a year's max-age still has every node poll reach
# it, because the node asks with `no-cache`.  (Both misconfigured at once
# serve a stale head: the guide says so.)
set -eu
. "$(dirname "$0")/fixture.sh"
sites_setup
sites_site 1000
poll=10 # the nodes' poll_interval, seconds (the shortest allowed)

mkdir src
pc_random src/a.bin 3M
echo 1 >src/version
sites_publish src
sites_mirror_start
sites_squid_start
chunks=$(manifest_file_chunks "$(manifest_path repo)" a.bin)

# The mirror sends what the guide's block says, or the test is void (HEAD
# requests: the GETs are counted below).
headers() {
	pc_ns_exec gw curl -sS -I "http://$MIRROR_ADDR/$1" |
		tr -d '\r'
}
assert_contains "$(headers head)" "Cache-Control: no-cache" "the head's headers"
assert_not_contains "$(headers head)" "ETag" "the head's headers"
first=$(echo "$chunks" | head -n 1)
assert_contains "$(headers "chunks/${first:0:2}/$first")" \
	"Cache-Control: public, max-age=31536000, immutable" "a chunk's headers"

# ---- chunks: the second read comes from squid's cache ------------------------------------
sites_node_opts -o discovery=off -o peer_server=off -o poll_interval=${poll}s
pc_node_start 1
pc_node_start 2
want=$(pc_sha src/a.bin)
sites_read 1 a.bin "$want"
sites_read 2 a.bin "$want"
for chunk in $chunks; do
	url="/chunks/${chunk:0:2}/$chunk"
	assert_eq 1 "$(pc_mirror_chunk_gets | grep -c "^$url ")" \
		"GETs of $url the mirror served"
	results=$(sites_squid_results "$url\$" | xargs)
	case "$results" in
	"TCP_MISS/200 TCP_HIT/200" | "TCP_MISS/200 TCP_MEM_HIT/200") ;;
	*) fail "squid's results for $url: '$results', expected a miss, then a hit" ;;
	esac
done
echo "$(echo "$chunks" | wc -l) chunks: one GET each at the mirror, a hit in squid the second time"

# A chunk the mirror does not have yet (a mirror being synced) is a 404
# that squid does not keep: once the chunk is there, it is served.
missing=$(printf 'not yet' | sha256sum | cut -d' ' -f1)
murl="http://$MIRROR_ADDR/chunks/${missing:0:2}/$missing"
via_squid() {
	pc_ns_exec n1 curl -s -o /dev/null -w '%{http_code}' \
		-x "http://$SQUID_ADDR:$SQUID_PORT" "$murl"
}
assert_eq 404 "$(via_squid)" "a chunk not on the mirror, through squid"
mkdir -p "repo/chunks/${missing:0:2}"
printf 'not yet' >"repo/chunks/${missing:0:2}/$missing"
assert_eq 200 "$(via_squid)" "the same chunk once on the mirror, through squid"

# ---- the head: seen at the next poll ------------------------------------------------------
# Version 2, published after the nodes' first poll, is served by both
# within one poll interval (and the time to install it), by their timers.
t0=$(date +%s.%N)
echo 2 >src/version
sites_publish src
sites_wait_version 1 2 "$t0" $((poll + 3))
sites_wait_version 2 2 "$t0" $((poll + 3))

# seen_at_next_poll VERSION: publishes VERSION; the nodes' next poll (made
# now: peercachectl refresh polls as the timer does) gets it.
seen_at_next_poll() {
	local i
	echo "$1" >src/version
	sites_publish src
	for i in "${@:2}"; do
		pc_node_ctl "$i" refresh >/dev/null || fail "node $i: refresh failed"
		assert_eq "$1" "$(sites_version "$i")" \
			"node $i's version after the first poll since $1 was published"
	done
}
seen_at_next_poll 3 1 2
# Every head request reached the mirror: none was answered from squid's
# cache alone.
head_polls=$(sites_squid_results '/head$' | wc -l)
assert_eq "$head_polls" "$(grep -c '^GET /head 200 ' "$PC_MIRROR_LOG")" \
	"head requests through squid vs at the mirror ($(sites_squid_results '/head$' | sort | uniq -c | xargs))"

# ---- squid misconfigured: it ignores the nodes' no-cache ----------------------------------
sites_squid_stop
aggressive='refresh_pattern . 525600 100% 525600 override-expire override-lastmod ignore-reload ignore-no-store ignore-private'
sites_squid_start "$aggressive
$(sites_guide_block squid)"
# A poll now, so that squid holds version 3's head when 4 comes out.
pc_node_ctl 1 refresh >/dev/null
seen_at_next_poll 4 1 2
# Two heads published within one second: the same Last-Modified (and
# size); a revalidation by date alone would call the second unmodified.
seen_at_next_poll 5 1
stamp=$(stat -c %Y repo/head)
size=$(stat -c %s repo/head)
echo 6 >src/version
sites_publish src
touch -d "@$stamp" repo/head
assert_eq "$size" "$(stat -c %s repo/head)" "the size of the heads of versions 5 and 6"
pc_node_ctl 1 refresh >/dev/null || fail "node 1: refresh failed"
assert_eq 6 "$(sites_version 1)" "node 1's version after the first poll since 6 (same second as 5)"
assert_contains "$(sites_squid_results '/head$' | sort -u | xargs)" \
	TCP_REFRESH_MODIFIED "squid's results for the head (it revalidates)"

# ---- the mirror misconfigured: a year's max-age on the head --------------------------------
pc_mirror_stop
pc_mirror_start mirror "$MIRROR_ADDR" "$PC_TMP/repo" \
	'location ~ "/head$" { add_header Cache-Control "public, max-age=31536000"; }'
sites_squid_stop
sites_squid_start
pc_node_ctl 1 refresh >/dev/null
seen_at_next_poll 7 1 2
seen_at_next_poll 8 2 1
assert_not_contains "$(sites_squid_results '/head$' | sort -u | xargs)" HIT \
	"squid's results for the head (the nodes ask with no-cache)"
