# shellcheck shell=bash
# site.sh - one site behind a WAN link, for the many-sites tests
# (tests/integration/sites/fixture.sh) and bench/sites.sh: the site's
# gateway, which runs its HTTP cache (squid), the mirror beyond the WAN
# link, and the mirror and squid configured as docs/ADMIN.md ("Many
# sites") says, from the guide's very blocks.  Source after lib/common.sh
# and lib/netns.sh, once the LAN exists (pc_lan_setup, or the benchmark's
# own); $PC_TMP/repo is the published repository.
#
#   198.18.1.1/24     the mirror (nginx), namespace "mirror", at the far
#                     end of the WAN link (veth "wan0" at both ends; what
#                     the mirror sends is limited with tc tbf)
#   198.18.1.2/24     the gateway's WAN side, namespace "gw"
#   198.18.0.2/24     the gateway on the site's LAN; squid listens on
#                     port 3128 there
#   198.18.0.(10+I)   node I, namespace "nI", on the site's LAN
#
# The gateway does not route unless sites_route says so: then the nodes
# reach the mirror through it without squid.
#
#   sites_site MBIT               the gateway on the LAN, the mirror's
#                                 namespace and the WAN link, MBIT Mbit/s
#                                 from the mirror towards the site
#   sites_route                   the gateway routes between the LAN and
#                                 the WAN (for the nodes made after it by
#                                 sites_node_ns)
#   sites_node_ns I               node I's namespace (before pc_node_start,
#                                 which would make one without the route)
#   sites_guide_block MARK        the lines of the guide's block marked
#                                 "<!-- sites: MARK -->" (nginx, squid)
#   sites_mirror_start [CONF]     nginx serves $PC_TMP/repo on 198.18.1.1
#                                 with CONF in its server block (default:
#                                 the guide's nginx block); sets
#                                 PC_MIRROR_LOG as pc_mirror_start does
#   sites_squid_start [BLOCK]     squid on the gateway, configured with
#                                 BLOCK (default: the guide's squid block,
#                                 its example subnet and spool directory
#                                 replaced by the site's); sets SQUID_LOG
#                                 (a line a request: "UNIXTIME.MS
#                                 RESULT/STATUS BYTES METHOD URL CLIENT")
#                                 and SQUID_PID
#   sites_squid_stop              stops it (also done at exit)
#   sites_squid_results URL_REGEX RESULT/STATUS of squid's requests for
#                                 the matching URLs, one a line

MIRROR_ADDR=198.18.1.1
GW_WAN_ADDR=198.18.1.2
SQUID_ADDR=198.18.0.2
SQUID_PORT=3128
SITE_NET=198.18.0.0/24
WAN_NET=198.18.1.0/24
SITES_GUIDE="$PC_SRC/docs/ADMIN.md"
SQUID_PID=""
SITES_ROUTED=""

sites_site() {
	local mbit=$1
	pc_ns_add gw "$SQUID_ADDR/24"
	pc_ns_create mirror
	ip -n "$(pc_ns gw)" link add wan0 type veth peer name wan0 \
		netns "$(pc_ns mirror)" || fail "cannot create the WAN link"
	ip -n "$(pc_ns gw)" addr add "$GW_WAN_ADDR/24" dev wan0
	ip -n "$(pc_ns mirror)" addr add "$MIRROR_ADDR/24" dev wan0
	ip -n "$(pc_ns gw)" link set wan0 up
	ip -n "$(pc_ns mirror)" link set wan0 up
	# A token bucket on what the mirror sends: the site's download
	# direction, as a WAN link's bandwidth limits it.
	tc -n "$(pc_ns mirror)" qdisc add dev wan0 root tbf rate "${mbit}mbit" \
		burst 256kb latency 200ms ||
		fail "cannot limit the WAN link to $mbit Mbit/s"
}

sites_route() {
	pc_ns_exec gw sysctl -q -w net.ipv4.ip_forward=1 ||
		fail "the gateway cannot forward"
	ip -n "$(pc_ns mirror)" route add "$SITE_NET" via "$GW_WAN_ADDR"
	SITES_ROUTED=yes
}

sites_node_ns() {
	pc_ns_exists "n$1" && return 0
	pc_ns_add "n$1" "$(pc_node_addr "$1")/24"
	[ -z "$SITES_ROUTED" ] ||
		ip -n "$(pc_ns "n$1")" route add "$WAN_NET" via "$SQUID_ADDR"
}

sites_guide_block() {
	local lines
	lines=$(awk -v mark="<!-- sites: $1 -->" '
		$0 == mark { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$SITES_GUIDE")
	[ -n "$lines" ] || fail "no block marked '<!-- sites: $1 -->' in $SITES_GUIDE"
	printf '%s\n' "$lines"
}

sites_mirror_start() {
	local conf="$PC_TMP/mirror-server.conf"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$1" >"$conf"
	else
		sites_guide_block nginx >"$conf"
	fi
	pc_mirror_start mirror "$MIRROR_ADDR" "$PC_TMP/repo" "include $conf;"
}

# A squid block for this site: its subnet, its mirror and its spool
# directory in place of the example's; what squid.conf needs around it.
sites_squid_conf() {
	local dir=$1 block=$2 host
	host=$(echo "$MIRROR_ADDR" | sed 's/\./\\\\./g') # escaped for sed: 198\\.18\\.1\\.1
	cat <<CONF
http_port $SQUID_ADDR:$SQUID_PORT
pid_filename $dir/squid.pid
cache_log $dir/cache.log
logformat pc %ts.%03tu %Ss/%03>Hs %<st %rm %ru %>a
access_log stdio:$dir/access.log pc
cache_store_log none
coredump_dir $dir
netdb_filename none
shutdown_lifetime 1 seconds
CONF
	printf '%s\n' "$block" | sed -e "s#10\.1\.0\.0/16#$SITE_NET#g" \
		-e "s#updates\\\\.example\\\\.com#$host#g" \
		-e "s#/var/spool/squid#$dir/spool#g"
	echo "http_access deny all"
}

sites_squid_start() {
	local dir service block deadline
	if [ $# -gt 0 ]; then
		block=$1
	else
		block=$(sites_guide_block squid)
	fi
	command -v squid >/dev/null ||
		fail "squid is not installed (scripts/install-deps.sh)"
	# squid drops to its own user (proxy), which must reach its
	# directory.
	chmod o+x "$PC_TMP"
	dir=$(mktemp -d "$PC_TMP/squid.XXXXXX")
	# The service name keeps this squid's shared memory segments
	# (/dev/shm/NAME-*) apart from any other squid's.
	service="pcsites$$x${dir##*.}"
	sites_squid_conf "$dir" "$block" >"$dir/squid.conf"
	mkdir "$dir/spool"
	chown -R proxy: "$dir"
	SQUID_LOG="$dir/access.log"
	if grep -q '^cache_dir ' "$dir/squid.conf"; then
		pc_ns_exec gw squid -N -z -n "$service" -f "$dir/squid.conf" \
			>"$dir/z.out" 2>&1 ||
			fail "squid -z failed: $(cat "$dir/z.out" "$dir/cache.log" 2>/dev/null)"
	fi
	pc_ns_spawn gw squid -N -n "$service" -f "$dir/squid.conf" \
		>"$dir/squid.out" 2>&1
	SQUID_PID=$PC_NS_PID
	pc_on_exit "sites_squid_cleanup $SQUID_PID $dir"
	deadline=$((SECONDS + 20))
	until pc_ns_exec gw bash -c \
		"exec 3<>/dev/tcp/$SQUID_ADDR/$SQUID_PORT" 2>/dev/null; do
		kill -0 "$SQUID_PID" 2>/dev/null ||
			fail "squid exited: $(cat "$dir/squid.out" "$dir/cache.log")"
		[ $SECONDS -lt $deadline ] ||
			fail "squid does not listen after 20 s: $(cat "$dir/cache.log")"
		sleep 0.05
	done
}

# At exit: a failing test shows squid's complaints and keeps its access
# log (PC_KEEP_LOGS).
sites_squid_cleanup() {
	pc_ns_kill "$1"
	if pc_lan_failing; then
		grep -E 'WARNING|ERROR|FATAL' "$2/cache.log" 2>/dev/null |
			tail -n 5 >&2
		pc_lan_keep "$2/access.log" squid.log
	fi
	return 0
}

sites_squid_stop() {
	local dir
	dir=$(dirname "$SQUID_LOG")
	pc_ns_kill "$SQUID_PID"
	pc_lan_forget "sites_squid_cleanup $SQUID_PID $dir"
	pc_lan_forget "pc_ns_kill $SQUID_PID"
}

sites_squid_results() {
	awk -v re="$1" '$5 ~ re { print $2 }' "$SQUID_LOG"
}
