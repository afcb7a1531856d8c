#!/usr/bin/env bash
# A first mirror that drips one byte every two seconds in front of a healthy
# second one (issue 10 item 3).  Before per-source health every chunk tried
# the slow mirror first: a 64 MiB read took 90 s with the defaults, and
# with fetch_timeout=5s (below low_speed_time) it failed with EIO.  Now the
# first slow attempt demotes the mirror, the downloads still waiting on it
# move to the next one, and an attempt gets only a share of the time while
# another mirror remains:
#   - defaults: the read takes about one low-speed abort (10 s), not 90 s;
#   - fetch_timeout=5s: the read succeeds;
#   - status says degraded, which mirror, why (slow) and since when.
set -eu
. "$(dirname "$0")/fixture.sh"
. "$(dirname "$0")/../lib/slow_mirror.sh"
pc_setup

mkdir src
pc_random src/big.bin 64M
pc_publish src repo
manifest=$(head_field repo manifest)
# Every chunk of the file drips; the head and the manifest do not, so that
# the first slow attempts are the reader's own.
pc_slow_mirror_start "$PC_TMP/repo" --drip "^/chunks/../(?!$manifest)" \
	--drip-interval 2
pc_nginx_start "$PC_TMP/repo"

# read_within SECONDS WHAT: reads big.bin through the mount, checks its
# bytes; fails if it takes longer.
read_within() {
	local start=$SECONDS
	timeout "$1" cat mnt/big.bin >read.bin ||
		fail "$2: the read failed or took more than $1 s (status $?); log:
$(grep -E 'warning|error' "$PC_DAEMON_LOG" | tail -20)"
	assert_file_same src/big.bin read.bin
	echo "$2: 64 MiB read in $((SECONDS - start)) s"
}

# --- the defaults: one low-speed abort, then the healthy mirror -------------
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o mirror="$NGINX_URL" -o trusted_key="$PC_TMP/key.pub"
read_within 30 "defaults"

json=$(pc_ctl status --json || true)
assert_eq degraded "$(pc_json_get "$json" status)" "status with a slow mirror"
assert_contains "$(pc_json_get "$json" reason)" "mirror $SLOW_URL" \
	"the reason names the slow mirror"
python3 - "$json" "$SLOW_URL" "$NGINX_URL" <<'PY' || fail "status sources: $json"
import json, sys
status = json.loads(sys.argv[1])
by_url = {s["source"]: s for s in status["sources"]}
slow, good = by_url[sys.argv[2]], by_url[sys.argv[3]]
assert slow["state"] == "demoted", slow
assert slow["trouble"] == "slow", slow
assert slow["since"] > 0 and slow["demoted_until"] >= slow["since"], slow
assert slow["slow"] >= 1, slow
assert good["state"] == "ok" and good["ok"] >= 32, good
PY
pc_run pc_ctl status
assert_eq 5 "$PC_RC" "peercachectl status exit code when degraded"
assert_contains "$PC_OUT" "status:      degraded" "status, for a person"
assert_contains "$PC_OUT" "$SLOW_URL: demoted (slow since" "status names the demotion"
assert_contains "$(cat "$PC_DAEMON_LOG")" "net: warning: mirror $SLOW_URL demoted" \
	"the demotion is logged as a warning"
pc_daemon_stop

# --- fetch_timeout below the default low_speed_time ---------------------------
rm -rf cache
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o mirror="$NGINX_URL" -o trusted_key="$PC_TMP/key.pub" \
	-o fetch_timeout=5s
read_within 30 "fetch_timeout=5s"
pc_daemon_stop
