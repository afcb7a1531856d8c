#!/usr/bin/env bash
# A node of the main site as the mirror of a branch site (mirror_serve,
# docs/ADMIN.md "Many sites"), three tiers in namespaces: the cloud mirror
# (nginx) behind a WAN link limited with tc, the main site with its site
# node (n1) and a neighbour (n2), a router, and a branch subnet of four
# nodes (n5..n8) behind a second limited link, whose first mirror is the
# site node and second the cloud.  Shown:
#   - the branch reads a file through the site node (which pulls it
#     through from the cloud, one fetch per chunk however many ask), then
#     the main site reads it: the cloud sends each chunk once for both
#     sites together, the branch link carries the file about once, every
#     node reads the right bytes, and the site node's counters say what
#     it served;
#   - a source outside mirror_allow is refused: closed at connect when it
#     is no peer either, 403 when it is a peer of the site node; a name
#     that is no object of a held version is 404, not fetched;
#   - eight branch requests at once for a chunk the site node lacks: one
#     fetch from the cloud, eight right bodies;
#   - the cloud stalls (nginx stopped): the site node answers 504 within
#     its deadline, not a hang, and stops cleanly with a request waiting;
#   - the site node is killed: the branch nodes take a new version and its
#     file from the cloud within their deadline, with the right bytes.
# Checked to fail without the feature: with mirror_serve off on n1 the
# branch fetches from the cloud too, and the cloud sends each chunk twice.
set -eu
. "$(dirname "$0")/fixture.sh"
. "$(dirname "$0")/branch.sh"
sites_setup
sites_site 200 # Mbit/s from the cloud to the main site
sites_route
branch_setup 100 # Mbit/s from the router into the branch
branch="5 6 7 8"
site_url="http://$(pc_node_addr 1):8081"

mkdir src
pc_random src/a.bin 12M
want_a=$(pc_sha src/a.bin)
size_a=$(stat -c %s src/a.bin)
sites_publish src
sites_mirror_start

# The site node: the cloud is its mirror (no squid here); it serves the
# branch's addresses (.0 to .31: the four branch nodes, not .50).  Its
# deadline for a pull-through is 3/4 of low_speed_time: 3 s.
site_opts=(-o mirror="http://$MIRROR_ADDR" -o trusted_key="$PC_TMP/key.pub"
	-o log_level=debug)
site_node_start() {
	PC_NODE_OPTS=("${site_opts[@]}")
	pc_node_start 1 -o mirror_serve=on -o mirror_allow=198.18.20.0/27 \
		-o low_speed_time=4s -o fetch_timeout=8s \
		-o metrics_listen=127.0.0.1:9464
}
for i in 1 2; do
	branch_site_node_ns "$i"
done
site_node_start
pc_node_start 2
# Branch nodes: the site node first, the cloud second.
PC_NODE_OPTS=(-o mirror="$site_url" "${site_opts[@]}")
for i in $branch; do
	branch_node_ns "$i"
	pc_node_start "$i"
done

# --- the branch reads through the site node, then the main site reads ---
# One branch node first (it pulls every chunk through the site node),
# then the others at once (from it, over the branch LAN): what crosses
# the branch link is then the site node's doing, not the branch peers'
# herd control, whose timing a slow (sanitizer) build changes: with all
# four at once, under TSan, two branch nodes once both fetched 8 of the
# 10 chunks.  The site node's single flight for requests at once is
# checked below (8 GETs of one missing chunk).
wan_before=$(branch_wan_bytes)
first_branch=${branch%% *}
sites_read_all a.bin "$first_branch"
# shellcheck disable=SC2086
sites_read_all a.bin ${branch#* }
wan_after=$(branch_wan_bytes)
sites_read_all a.bin 1 2
for i in $branch 1 2; do
	sites_read "$i" a.bin "$want_a"
done
for i in $branch; do
	echo "branch node $i: $(pc_node_stat "$i" bytes_from_peers) bytes from peers," \
		"$(pc_node_stat "$i" bytes_from_mirror) from its mirrors"
done
stats=$(pc_node_ctl 1 stats --json)
hit=$(pc_json_get "$stats" mirror_served_bytes_hit)
fetched=$(pc_json_get "$stats" mirror_served_bytes_fetched)
echo "site node: served the branch $fetched bytes pulled through and $hit from its cache" \
	"($(pc_json_get "$stats" mirror_served_fetched) + $(pc_json_get "$stats" mirror_served_hits) requests," \
	"$(pc_json_get "$stats" mirror_served_heads) heads)"
[ "$((hit + fetched))" -ge "$size_a" ] ||
	fail "the site node served $((hit + fetched)) bytes for a $size_a-byte file"
[ "$fetched" -gt 0 ] || fail "the site node pulled nothing through"
metric=$(pc_ns_exec n1 curl -s http://127.0.0.1:9464/metrics |
	awk '$1 == "peercache_mirror_serve_bytes_total{result=\"fetched\"}" { print $2 }')
assert_eq "$fetched" "$metric" "the metric of the bytes pulled through for the branch"

# The cloud: each chunk of a.bin once, for both sites.
chunks=$(manifest_file_chunks "$(manifest_path "$PC_TMP/repo")" a.bin)
nchunks=$(echo "$chunks" | wc -l)
[ "$nchunks" -ge 4 ] || fail "a.bin has $nchunks chunks: too few to show anything"
while read -r hex; do
	n=$(pc_mirror_chunk_gets | awk -v u="/chunks/${hex:0:2}/$hex" '$1 == u' | wc -l)
	[ "$n" = 1 ] ||
		fail "the cloud sent chunk $hex $n times for both sites: $(pc_mirror_chunk_gets | grep "$hex" | xargs)"
done <<<"$chunks"
from_branch=$(pc_mirror_chunk_gets | awk '$2 ~ /^198\.18\.20\./' | wc -l)
assert_eq 0 "$from_branch" "chunk GETs of the branch at the cloud"
sent=$(sites_mirror_file_bytes a.bin)
echo "the cloud sent $sent bytes of a.bin's $nchunks chunks for both sites (file: $size_a bytes)"

# The branch link: each chunk once, as the site node's log says (its
# debug line for each body sent), and about the file's bytes on the link
# (headers, acks and heads aside).  Under heavy load a branch node may stop
# waiting for its neighbour's download of a chunk and ask for it too (the
# branch's peers, not the site node): one such chunk is tolerated, and
# shown.
twice=0
while read -r hex; do
	n=$(grep -c "mirror serve: object $hex .* sent to 198\.18\.20\." \
		"${PC_NODE_LOG[1]}" || true)
	[ "$n" -ge 1 ] || fail "the site node never sent chunk $hex to the branch"
	[ "$n" = 1 ] || {
		echo "chunk $hex crossed the branch link $n times"
		twice=$((twice + n - 1))
	}
done <<<"$chunks"
[ "$twice" -le 1 ] || fail "$twice chunks crossed the branch link more than once"
wan=$((wan_after - wan_before))
echo "the branch link carried $wan bytes while the branch read a.bin"
[ "$wan" -ge "$size_a" ] || fail "the branch link carried $wan bytes for a $size_a-byte file"
[ "$wan" -le $((size_a * 3 / 2)) ] ||
	fail "the branch link carried $wan bytes, more than 1.5 x $size_a"

# --- who may ask ---------------------------------------------------------
hex=$(echo "$chunks" | head -n 1)
path="chunks/${hex:0:2}/$hex"
# ask NODE_NS URL: the HTTP status (000: no answer) and the time taken.
ask() {
	pc_ns_exec "$1" curl -s -o /dev/null --max-time 20 \
		-w '%{http_code} %{time_total}' "$2" || true
}
got=$(ask n5 "$site_url/$path")
assert_eq 200 "${got% *}" "a branch node's GET of a chunk at the site node"
branch_node_ns 9 198.18.20.50 # in the branch, outside mirror_allow
got=$(ask n9 "$site_url/$path")
assert_eq 000 "${got% *}" "a GET from outside mirror_allow and the peers (closed at connect)"
got=$(ask n2 "$site_url/$path")
assert_eq 403 "${got% *}" "a GET of /chunks/ from a peer outside mirror_allow"
unknown=$(printf '%064d' 7)
got=$(ask n5 "$site_url/chunks/00/$unknown")
assert_eq 404 "${got% *}" "a GET of an object of no version held"
refused=$(pc_node_stat 1 mirror_refused)
assert_eq 1 "$refused" "requests the site node refused (403)"

# --- version 2, which the site node takes (the branch does not ask) -----
pc_random src/c.bin 3M
want_c=$(pc_sha src/c.bin)
sites_publish src
pc_node_ctl 1 refresh >/dev/null || fail "the site node did not take version 2"
chunks_c=$(manifest_file_chunks "$(manifest_path "$PC_TMP/repo")" c.bin)

# --- single flight: eight requests at once for a chunk the site node lacks
hex_s=$(echo "$chunks_c" | sed -n 2p)
pids=()
for i in $branch; do
	for k in 1 2; do
		pc_ns_exec "n$i" curl -s -f --max-time 20 -o "$PC_TMP/sf.$i.$k" \
			"$site_url/chunks/${hex_s:0:2}/$hex_s" &
		pids+=($!)
	done
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a concurrent GET of chunk $hex_s at the site node failed"
done
for f in "$PC_TMP"/sf.*; do
	assert_eq "$hex_s" "$(pc_sha "$f")" "the body of $f"
done
n=$(pc_mirror_chunk_gets | awk -v u="/chunks/${hex_s:0:2}/$hex_s" '$1 == u' | wc -l)
assert_eq 1 "$n" "the cloud's GETs of a chunk eight branch requests asked for at once"

# --- the cloud stalls: 504 within the deadline ---------------------------
hex_c=$(echo "$chunks_c" | head -n 1)
nginx_pids="$PC_MIRROR_PID $(pgrep -P "$PC_MIRROR_PID" | xargs)"
# shellcheck disable=SC2086
kill -STOP $nginx_pids
pc_on_exit "kill -CONT $nginx_pids"
got=$(ask n5 "$site_url/chunks/${hex_c:0:2}/$hex_c")
echo "with the cloud stalled, the site node answered ${got% *} in ${got#* } s"
assert_eq 504 "${got% *}" "a pull-through while the cloud stalls"
awk -v t="${got#* }" 'BEGIN { exit !(t >= 2.5 && t < 4.5) }' ||
	fail "the 504 came after ${got#* } s, not at the 3 s deadline"
assert_eq 1 "$(pc_node_stat 1 mirror_timeouts)" "requests answered 504"
# The site node stops (SIGTERM) while a branch request waits for its
# fetch: it exits cleanly (status 0, no sanitizer report), and starts again
# with its cache.
hex_c3=$(echo "$chunks_c" | sed -n 3p)
pc_ns_spawn n6 curl -s -o /dev/null --max-time 20 -w '%{http_code}' \
	"$site_url/chunks/${hex_c3:0:2}/$hex_c3" >"$PC_TMP/pending.code"
waiting=0
for _ in $(seq 100); do
	waiting=$(pc_node_stat 1 mirror_in_flight)
	[ "$waiting" = 0 ] || break
	sleep 0.05
done
pc_node_stop 1
pc_ns_wait "$PC_NS_PID" || true
# Once in a full serial run the request had its answer before it was
# seen waiting (under investigation); the clean stop is checked anyway.
if [ "$waiting" = 1 ]; then
	echo "the site node stopped cleanly; the request that waited got $(cat "$PC_TMP/pending.code")"
else
	echo "NOTE: the request was answered ($(cat "$PC_TMP/pending.code")) before" \
		"the stop: the stop with a request waiting is not shown in this run"
fi
# shellcheck disable=SC2086
kill -CONT $nginx_pids
site_node_start

# --- the site node goes away: the branch falls back to the cloud ---------
kill -KILL "${PC_NODE_PID[1]}"
wait "${PC_NODE_PID[1]}" 2>/dev/null || true
start=$(date +%s.%N)
for i in $branch; do
	pc_node_ctl "$i" refresh >/dev/null ||
		fail "branch node $i did not take version 2 from the cloud"
done
# shellcheck disable=SC2086
sites_read_all c.bin $branch
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
for i in $branch; do
	sites_read "$i" c.bin "$want_c"
done
echo "without the site node, the branch took version 2 and c.bin from the cloud in $took s"
awk -v t="$took" 'BEGIN { exit !(t < 30) }' ||
	fail "the branch needed $took s without its site node (fetch_timeout is 30 s)"
from_branch=$(pc_mirror_chunk_gets | awk '$2 ~ /^198\.18\.20\./' | wc -l)
[ "$from_branch" -gt 0 ] || fail "no chunk of c.bin came from the cloud to the branch"
echo "ok: the site node served the branch, the cloud sent each chunk once, refusals, 504, fallback"
