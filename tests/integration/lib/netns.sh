# netns.sh - a LAN of network namespaces on one bridge: one peercache per
# namespace, nginx as the mirror in a namespace of its own.  Source after
# common.sh, nginx.sh and mount.sh; call pc_setup, then pc_lan_setup.
#
# Every test builds its own LAN, so tests can run at the same time and
# reuse the same addresses:
#
#   <prefix>-sw      the switch: bridge br0 and one veth end per member
#   <prefix>-NAME    a member: lo and eth0 (its end of the veth), with the
#                    addresses given; no default route, so nothing leaves
#                    the LAN
#
# where <prefix> is the test's area and pid ("peers-12345").  Addresses
# come from 198.18.0.0/15 (RFC 2544, benchmarking).  Daemons and readers
# enter only the network namespace (nsenter --net), so a FUSE mount made by
# a daemon is in the host's mount namespace, where the test reads it and
# where the cleanup unmounts it.  Everything is removed at exit, newest
# first: daemons (and their mounts), nginx, then the namespaces.
#
#   pc_lan_setup [PREFIX]        the switch
#   pc_ns_add NAME ADDR/LEN      a member namespace (address with broadcast)
#   pc_ns_addr_add NAME ADDR/LEN another address on its eth0
#   pc_ns NAME                   the namespace's full name
#   pc_ns_exec NAME CMD...       CMD in NAME's network namespace
#   pc_ns_spawn NAME CMD...      the same in the background (redirect the
#                                call); sets PC_NS_PID, the command's own
#                                pid, killed at exit if still running
#   pc_ns_wait PID               waits for it; its exit status
#   pc_ns_stop PID               stops it (SIGTERM) and waits
#   pc_ns_wait_tcp NAME ADDR PORT SECONDS
#                                until ADDR:PORT accepts, as seen from NAME
#   pc_mirror_start NAME ADDR ROOT [EXTRA_SERVER_CONF]
#                                nginx in NAME serves ROOT on ADDR:80 (with
#                                EXTRA_SERVER_CONF in its server block); sets
#                                PC_MIRROR_URL, PC_MIRROR_LOG ("METHOD URI
#                                STATUS BYTES CLIENT UNIXTIME.MS" a line),
#                                PC_MIRROR_PID
#   pc_mirror_stop               stops it (also done at exit)
#   pc_mirror_chunk_bytes        body bytes nginx sent for chunks/
#   pc_mirror_chunk_gets         successful GETs of chunks/ (one per line:
#                                URI CLIENT UNIXTIME.MS)
#   pc_node_start I [-o K=V]...  peercache in namespace nI (created with
#                                address $(pc_node_addr I)/24 if needed),
#                                options "${PC_NODE_OPTS[@]}" then the
#                                given ones; waits for the mount.  Sets
#                                PC_NODE_PID[I], PC_NODE_MNT[I],
#                                PC_NODE_CACHE[I], PC_NODE_LOG[I]
#   pc_node_stop I               SIGTERM, wait, check the mount is gone
#   pc_node_ctl I ARGS...        peercachectl against node I
#   pc_node_stat I KEY           one member of its `stats --json`
#   pc_node_rss I                its daemon's resident memory, KiB
#
# IPv6 (namespaces have it off unless a helper below turns it on; addresses
# from 2001:2::/48, RFC 5180, benchmarking; DAD off, so an address is
# usable at once; no router advertisements or solicitations):
#
#   pc_lan_ipv6                  the switch floods multicast (no MLD
#                                snooping: nothing on the LAN is a querier)
#   pc_ns_ipv6 NAME              IPv6 on in NAME (lo, eth0)
#   pc_ns_add6 NAME ADDR6/LEN    a member with an IPv6 address only
#   pc_ns_addr6_add NAME ADDR6/LEN  another IPv6 address on its eth0
#   pc_node_addr6 I              node I's IPv6 address ($PC_LAN_NET6::(10+I))
#
# pc_mirror_start takes "[ADDR6]" as its address; PC_MIRROR_PORT (default
# 80) is the port nginx listens on, named in PC_MIRROR_URL when not 80.
#
# PC_KEEP_LOGS=DIR keeps the nodes' and the mirror's logs of a failing test
# in DIR.

PC_LAN_NET=198.18.0 # the LAN is $PC_LAN_NET.0/24
PC_LAN_NET6=2001:2:0:1 # and $PC_LAN_NET6::/64 when it has IPv6
PC_LAN_PREFIX=""
PC_MIRROR_PID=""
PC_NODE_OPTS=()
declare -a PC_NODE_PID PC_NODE_MNT PC_NODE_CACHE PC_NODE_LOG

pc_ns() {
	echo "$PC_LAN_PREFIX-$1"
}

pc_ns_exec() {
	local name=$1
	shift
	nsenter --net="/run/netns/$(pc_ns "$name")" -- "$@"
}

# Not `pc_ns_exec ... &`: that backgrounds a subshell, and killing it
# would leave the command running.  Here the subshell execs nsenter, which
# execs the command, so $! is the command itself (and a signal that comes
# before the exec meets the default dispositions, not the test's traps).
pc_ns_spawn() {
	local ns
	ns=$(pc_ns "$1")
	shift
	(
		trap - ERR INT TERM
		exec nsenter --net="/run/netns/$ns" -- "$@"
	) &
	PC_NS_PID=$!
	pc_on_exit "pc_ns_kill $PC_NS_PID"
}

pc_ns_kill() {
	kill "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}

# pc_ns_wait PID: waits for a command started with pc_ns_spawn; its exit
# status.  It is then no longer killed at exit.
pc_ns_wait() {
	local rc=0
	wait "$1" || rc=$?
	pc_lan_forget "pc_ns_kill $1"
	return $rc
}

# pc_ns_stop PID: ends it now (SIGTERM) and waits.
pc_ns_stop() {
	pc_ns_kill "$1"
	pc_lan_forget "pc_ns_kill $1"
}

# True when the test is failing: cleanup steps run from pc_cleanup, whose
# local $status (the test's exit status) they see through bash's dynamic
# scoping.
pc_lan_failing() {
	[ "${status:-0}" != 0 ]
}

# pc_lan_setup [PREFIX]: PREFIX defaults to the test's area and pid.
pc_lan_setup() {
	local area
	area=$(basename "$(cd "$(dirname "$0")" && pwd)")
	PC_LAN_PREFIX=${1:-$area-$$}
	pc_ns_create sw
	ip -n "$(pc_ns sw)" link add br0 type bridge ||
		fail "cannot create the bridge"
	ip -n "$(pc_ns sw)" link set br0 up
}

# A namespace with lo up and IPv6 off (no router solicitations or DAD on
# the LAN: only the test's traffic).
pc_ns_create() {
	local ns
	ns=$(pc_ns "$1")
	ip netns add "$ns" || fail "cannot create network namespace $ns"
	pc_on_exit "ip netns del $ns"
	ip -n "$ns" link set lo up
	pc_ns_exec "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

pc_ns_add() {
	local name=$1 addr=$2 sw
	sw=$(pc_ns sw)
	[ ${#name} -le 14 ] || fail "pc_ns_add: name '$name' is too long"
	pc_ns_create "$name"
	ip -n "$sw" link add "v$name" type veth peer name eth0 \
		netns "$(pc_ns "$name")" ||
		fail "cannot create the veth pair of $name"
	ip -n "$sw" link set "v$name" master br0 up
	ip -n "$(pc_ns "$name")" link set eth0 up
	pc_ns_addr_add "$name" "$addr"
}

pc_ns_addr_add() {
	ip -n "$(pc_ns "$1")" addr add "$2" brd + dev eth0 ||
		fail "cannot add address $2 to $1"
}

pc_ns_exists() {
	[ -e "/run/netns/$(pc_ns "$1")" ]
}

pc_ns_wait_tcp() {
	local name=$1 addr=$2 port=$3 deadline=$((SECONDS + $4))
	addr=${addr#[} addr=${addr%]} # "[2001:2::1]": bash wants it bare
	until pc_ns_exec "$name" bash -c "exec 3<>/dev/tcp/$addr/$port" \
		2>/dev/null; do
		[ $SECONDS -lt $deadline ] ||
			fail "nothing listens on $addr:$port (from $name) after $4 s"
		sleep 0.05
	done
}

# pc_lan_keep FILE NAME: when PC_KEEP_LOGS names a directory, a failing
# test leaves FILE there as <test>.NAME (everything else is removed).
pc_lan_keep() {
	[ -n "${PC_KEEP_LOGS:-}" ] && [ -f "$1" ] || return 0
	mkdir -p "$PC_KEEP_LOGS" &&
		cp "$1" "$PC_KEEP_LOGS/$(basename "$0" .sh).$2"
}

# ---- the mirror ----------------------------------------------------------

pc_mirror_start() {
	local name=$1 addr=$2 root=$3 extra=${4:-} port=${PC_MIRROR_PORT:-80} dir
	dir=$(mktemp -d "$PC_TMP/nginx.XXXXXX")
	PC_MIRROR_URL="http://$addr"
	[ "$port" = 80 ] || PC_MIRROR_URL+=":$port"
	PC_MIRROR_LOG="$dir/access.log"
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
user root;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	log_format pc '\$request_method \$uri \$status \$body_bytes_sent \$remote_addr \$msec';
	access_log $PC_MIRROR_LOG pc;
	sendfile on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	server {
		listen $addr:$port;
		root $root;
		$extra
	}
}
CONF
	nsenter --net="/run/netns/$(pc_ns "$name")" -- /usr/sbin/nginx \
		-c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" &
	PC_MIRROR_PID=$!
	pc_on_exit "pc_mirror_cleanup $PC_MIRROR_PID $PC_MIRROR_LOG"
	pc_ns_wait_tcp "$name" "$addr" "$port" 10
}

pc_mirror_cleanup() {
	pc_nginx_kill "$1"
	! pc_lan_failing || pc_lan_keep "$2" mirror.log
}

pc_mirror_stop() {
	pc_nginx_kill "$PC_MIRROR_PID"
}

pc_mirror_chunk_bytes() {
	# printf: mawk prints sums past 2^31 in exponent form.
	awk '$2 ~ /^\/chunks\// { sum += $4 } END { printf "%.0f\n", sum }' \
		"$PC_MIRROR_LOG"
}

pc_mirror_chunk_gets() {
	awk '$1 == "GET" && $2 ~ /^\/chunks\// && $3 == 200 { print $2, $5, $6 }' \
		"$PC_MIRROR_LOG"
}

# ---- IPv6 -----------------------------------------------------------------

pc_lan_ipv6() {
	ip -n "$(pc_ns sw)" link set br0 type bridge mcast_snooping 0 ||
		fail "cannot turn MLD snooping off on the bridge"
}

pc_ns_ipv6() {
	local dev settings=()
	for dev in all default lo eth0; do
		[ "$dev" != eth0 ] || pc_ns_exec "$1" test -e /proc/sys/net/ipv6/conf/eth0 ||
			continue
		settings+=("net.ipv6.conf.$dev.disable_ipv6=0"
			"net.ipv6.conf.$dev.accept_dad=0"
			"net.ipv6.conf.$dev.accept_ra=0"
			"net.ipv6.conf.$dev.router_solicitations=0")
	done
	pc_ns_exec "$1" sysctl -q -w "${settings[@]}" >/dev/null ||
		fail "cannot turn IPv6 on in $1"
}

pc_ns_add6() {
	local name=$1 sw
	sw=$(pc_ns sw)
	[ ${#name} -le 14 ] || fail "pc_ns_add6: name '$name' is too long"
	pc_ns_create "$name"
	ip -n "$sw" link add "v$name" type veth peer name eth0 \
		netns "$(pc_ns "$name")" ||
		fail "cannot create the veth pair of $name"
	ip -n "$sw" link set "v$name" master br0 up
	pc_ns_ipv6 "$name"
	ip -n "$(pc_ns "$name")" link set eth0 up
	pc_ns_addr6_add "$name" "$2"
}

pc_ns_addr6_add() {
	ip -n "$(pc_ns "$1")" -6 addr add "$2" dev eth0 nodad ||
		fail "cannot add address $2 to $1"
}

pc_node_addr6() {
	echo "$PC_LAN_NET6::$((10 + $1))"
}

# ---- nodes -----------------------------------------------------------------

pc_node_addr() {
	echo "$PC_LAN_NET.$((10 + $1))"
}

pc_node_start() {
	local i=$1 dir deadline
	shift
	pc_ns_exists "n$i" || pc_ns_add "n$i" "$(pc_node_addr "$i")/24"
	dir="$PC_TMP/node$i"
	mkdir -p "$dir/mnt" "$dir/cache"
	PC_NODE_MNT[i]="$dir/mnt"
	PC_NODE_CACHE[i]="$dir/cache"
	PC_NODE_LOG[i]="$dir/daemon.log"
	echo "--- start: $*" >>"${PC_NODE_LOG[i]}"
	# nsenter execs the daemon: $! is the daemon's pid.
	nsenter --net="/run/netns/$(pc_ns "n$i")" -- "$PEERCACHE" -f \
		-o cache_dir="$dir/cache" -o poll_interval=1h \
		"${PC_NODE_OPTS[@]}" "$@" "$dir/mnt" >>"${PC_NODE_LOG[i]}" 2>&1 &
	PC_NODE_PID[i]=$!
	pc_on_exit "pc_node_cleanup $i ${PC_NODE_PID[i]}"
	deadline=$((SECONDS + 40))
	until pc_is_mounted "$dir/mnt"; do
		kill -0 "${PC_NODE_PID[i]}" 2>/dev/null ||
			fail "node $i exited before mounting"
		[ $SECONDS -lt $deadline ] || fail "node $i did not mount"
		sleep 0.05
	done
}

# At exit: stop the daemon, unmount, and when the test failed show the end
# of the node's log (it goes away with $PC_TMP).
pc_node_cleanup() {
	local i=$1 pid=$2
	if pc_lan_failing && kill -0 "$pid" 2>/dev/null; then
		echo "--- node $i (pid $pid): stats" >&2
		timeout 5 "$PEERCACHECTL" --cache-dir "${PC_NODE_CACHE[i]}" \
			stats --json >&2
	fi
	pc_daemon_cleanup "$pid" "${PC_NODE_MNT[i]}" "${PC_NODE_LOG[i]}"
	if pc_lan_failing && [ -f "${PC_NODE_LOG[i]}" ]; then
		echo "--- node $i (pid $pid): last lines of its log:" >&2
		grep -v 'unique: ' "${PC_NODE_LOG[i]}" | tail -n 25 >&2
		pc_lan_keep "${PC_NODE_LOG[i]}" "node$i.log"
	fi
	return 0
}

pc_node_stop() {
	local i=$1 pid=${PC_NODE_PID[$1]}
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "node $i ignored SIGTERM"
	wait "$pid" || fail "node $i exited with status $? on SIGTERM"
	pc_is_mounted "${PC_NODE_MNT[i]}" && fail "node $i still mounted"
	# Stopped and unmounted: the exit trap must not signal a pid that
	# another process may have been given since.
	pc_lan_forget "pc_node_cleanup $i $pid"
}

# pc_lan_forget STEP: removes a cleanup step registered with pc_on_exit.
pc_lan_forget() {
	local k
	for k in "${!PC_CLEANUPS[@]}"; do
		[ "${PC_CLEANUPS[k]}" != "$1" ] || unset 'PC_CLEANUPS[k]'
	done
	PC_CLEANUPS=("${PC_CLEANUPS[@]}")
}

pc_node_ctl() {
	local i=$1
	shift
	"$PEERCACHECTL" --cache-dir "${PC_NODE_CACHE[i]}" "$@"
}

pc_node_stat() {
	local json
	json=$(pc_node_ctl "$1" stats --json) || fail "stats of node $1 failed"
	pc_json_get "$json" "$2"
}

pc_node_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/${PC_NODE_PID[$1]}/status"
}
