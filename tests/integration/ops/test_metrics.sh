#!/usr/bin/env bash
# metrics_listen: the Prometheus text endpoint, scraped with curl.  The
# store's counters rise with reads, the version and status are there,
# discovery's counters (copied from the loop thread once a second) move;
# only GET /metrics is served; a port alone listens on loopback only; a
# value that is not an address is refused at start.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

# metric NAME: its value in the last scrape ($SCRAPE), or "missing".
metric() {
	awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }' <<<"$SCRAPE"
}

scrape() {
	SCRAPE=$(curl -sS --max-time 5 "http://127.0.0.1:$1/metrics") ||
		fail "scraping 127.0.0.1:$1 failed"
}

# wait_metric PORT NAME MIN: until NAME is at least MIN (5 s).
wait_metric() {
	local deadline=$((SECONDS + 5)) value
	while :; do
		scrape "$1"
		value=$(metric "$2")
		[ "$value" != missing ] && [ "$value" -ge "$3" ] && return 0
		[ $SECONDS -lt $deadline ] || fail "$2 is $value, expected at least $3; scrape:
$SCRAPE"
		sleep 0.2
	done
}

mkdir src
# More than PC_CHUNK_MAX (4 MiB): a file of one chunk would be read by
# passthrough once cached, and its reads never reach the daemon to count.
pc_random src/a.bin 5M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

port=$(pc_free_port)
# Discovery on, towards a static peer nobody runs (no broadcasts leave
# this machine): probes are sent and counted.
pc_mount_repo -o metrics_listen="127.0.0.1:$port" -o discovery=on \
	-o discovery_port="$(pc_free_port)" -o peers="127.0.0.1:$(pc_free_port)"
pc_wait_port "$port" 10

# Loop values reach the scrape within a second.
wait_metric "$port" peercache_version 1
assert_contains "$SCRAPE" '# TYPE peercache_hits_total counter' "TYPE line"
assert_contains "$SCRAPE" 'peercache_info{repository="test"} 1' "info"
assert_contains "$SCRAPE" 'peercache_status{status="up_to_date"} 1' "status"
assert_eq 1 "$(metric peercache_version)" "version"
assert_eq 0 "$(metric peercache_held_version)" "held"
assert_eq $((512 << 20)) "$(metric peercache_quota_bytes)" "quota"
assert_eq 1 "$(metric peercache_discovery_up)" "discovery up"
assert_eq 0 "$(metric peercache_peer_server_up)" "peer server off"
hits=$(metric peercache_hits_total)

assert_file_same src/a.bin mnt/a.bin
wait_metric "$port" peercache_bytes_from_mirror_total $((2 << 20))
wait_metric "$port" peercache_cache_bytes $((2 << 20))
wait_metric "$port" peercache_discovery_probes_sent_total 1
echo 3 >/proc/sys/vm/drop_caches
cat mnt/a.bin >/dev/null
wait_metric "$port" peercache_hits_total $((hits + 1))
start=$(metric peercache_start_time_seconds)
[ "$start" -gt 0 ] && [ "$start" -le "$(date +%s)" ] || fail "start time $start"

# Only GET /metrics.
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" "GET /"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics")" "POST"
# peercachectl stats agrees with the scrape on a persisted counter.
sleep 1.2
scrape "$port"
json=$(pc_ctl stats --json)
assert_eq "$(pc_json_get "$json" bytes_from_mirror)" "$(metric peercache_bytes_from_mirror_total)" \
	"stats and metrics agree"
pc_daemon_stop
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "metrics still served after stop"

# A port alone: loopback, not every interface.
port=$(pc_free_port)
pc_mount_repo -o metrics_listen="$port"
pc_wait_port "$port" 10
listening=$(ss -Hltn "sport = :$port" | awk '{ print $4 }')
assert_eq "127.0.0.1:$port" "$listening" "metrics_listen=PORT listens on"
wait_metric "$port" peercache_version 1
pc_daemon_stop

# Not an address: the daemon does not start.
pc_run "$PEERCACHE" -f -o cache_dir="$PC_TMP/cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o discovery=off -o peer_server=off \
	-o metrics_listen=ops-metrics.invalid:80 "$PC_TMP/mnt"
[ "$PC_RC" != 0 ] || fail "a daemon with metrics_listen=ops-metrics.invalid:80 started"
assert_contains "$PC_OUT" "metrics_listen" "the refusal names the key"
pc_is_mounted "$PC_TMP/mnt" && fail "mounted despite a bad metrics_listen"
true
