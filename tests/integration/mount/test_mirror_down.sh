#!/usr/bin/env bash
# A mirror that accepts connections and sends nothing: a read of an
# uncached chunk fails with EIO within fetch_timeout (it never hangs), and
# cached files keep reading.  A mirror that is down: the same.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/cached.bin 3M
pc_random src/uncached.bin 3M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
assert_file_same src/cached.bin mnt/cached.bin
pc_daemon_stop

# The stalling mirror: accepts, reads nothing, answers nothing.
stall_port=$(pc_free_port)
python3 - "$stall_port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
deadline = time.time() + 120
s.settimeout(1)
while time.time() < deadline:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
pc_on_exit "kill $! 2>/dev/null"
pc_wait_port "$stall_port" 10

start=$SECONDS
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o trusted_key="$PC_TMP/key.pub" \
	-o mirror="http://127.0.0.1:$stall_port" -o fetch_timeout=3s
assert_file_same src/cached.bin mnt/cached.bin
t0=$(date +%s.%N)
if cat mnt/uncached.bin >/dev/null 2>err; then
	fail "a read from a stalled mirror succeeded"
fi
t1=$(date +%s.%N)
assert_contains "$(cat err)" "Input/output error" "error from a stalled mirror"
python3 -c "import sys; e = $t1 - $t0; print(f'EIO after {e:.1f} s'); sys.exit(0 if e < 6 else 1)" ||
	fail "the read took longer than fetch_timeout plus slack"
status=$(pc_ctl status --json || true)
assert_eq failing "$(pc_json_get "$status" status)" "status with a stalled mirror"
pc_daemon_stop

# A reader killed while it waits (FUSE interrupt): it goes away at once,
# not when the 30 s fetch_timeout runs out.
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o trusted_key="$PC_TMP/key.pub" \
	-o mirror="http://127.0.0.1:$stall_port" -o fetch_timeout=30s
cat mnt/uncached.bin >/dev/null 2>&1 &
reader=$!
sleep 1
# While it waits, lookups, getattr and cached reads are not held up.
t0=$(date +%s%N)
stat mnt/cached.bin >/dev/null
ls -l mnt >/dev/null
echo 3 >/proc/sys/vm/drop_caches
assert_file_same src/cached.bin mnt/cached.bin
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 2000 ] ||
	fail "cached access took $(((t1 - t0) / 1000000)) ms while a fetch was stuck"
kill -KILL $reader
t0=$SECONDS
wait $reader 2>/dev/null || true
[ $((SECONDS - t0)) -le 3 ] || fail "a killed reader took $((SECONDS - t0)) s to go away"
assert_file_same src/cached.bin mnt/cached.bin
pc_daemon_stop

# Mirror down (nothing listens): cached reads work, uncached fail fast.
pc_nginx_stop
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o trusted_key="$PC_TMP/key.pub" \
	-o mirror="$NGINX_URL" -o fetch_timeout=3s
assert_file_same src/cached.bin mnt/cached.bin
if cat mnt/uncached.bin >/dev/null 2>err; then
	fail "a read with the mirror down succeeded"
fi
assert_contains "$(cat err)" "Input/output error" "error with the mirror down"
