# slow_mirror.sh - a mirror whose timing the test decides (slow_mirror.py).
# Source after common.sh.
#
#   pc_slow_mirror_start ROOT [--drip REGEX [--drip-interval S]]
#                             [--hold REGEX [--hold-after BYTES]]
#       serves ROOT on a loopback port; sets SLOW_URL, SLOW_PID and
#       SLOW_CONTROL (the directory of held.N and release).  Stopped at
#       exit.
#   pc_slow_mirror_wait_held SECONDS
#       until a request is held (--hold): an event the server makes
#       happen, so the test never has to catch a passing moment
#   pc_slow_mirror_hold REGEX  from now on, hold bodies of paths matching it
#   pc_slow_mirror_release    every held body (and later ones) goes on

pc_slow_mirror_start() {
	local root=$1 dir deadline
	shift
	dir=$(mktemp -d "$PC_TMP/slow-mirror.XXXXXX")
	SLOW_CONTROL="$dir/control"
	mkdir "$SLOW_CONTROL"
	python3 "$PC_SRC/tests/integration/lib/slow_mirror.py" --root "$root" \
		--port-file "$dir/port" --control "$SLOW_CONTROL" "$@" \
		>"$dir/log" 2>&1 &
	SLOW_PID=$!
	pc_on_exit "pc_slow_mirror_kill $SLOW_PID"
	deadline=$((SECONDS + 10))
	until [ -s "$dir/port" ]; do
		kill -0 "$SLOW_PID" 2>/dev/null ||
			fail "slow_mirror.py exited: $(cat "$dir/log")"
		[ $SECONDS -lt $deadline ] || fail "slow_mirror.py did not start"
		sleep 0.05
	done
	SLOW_URL="http://127.0.0.1:$(cat "$dir/port")"
}

pc_slow_mirror_kill() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}

pc_slow_mirror_wait_held() {
	local deadline=$((SECONDS + $1))
	until compgen -G "$SLOW_CONTROL/held.*" >/dev/null; do
		[ $SECONDS -lt $deadline ] ||
			fail "no request reached the held mirror within $1 s"
		sleep 0.05
	done
}

pc_slow_mirror_hold() {
	printf '%s\n' "$1" >"$SLOW_CONTROL/hold.tmp"
	mv "$SLOW_CONTROL/hold.tmp" "$SLOW_CONTROL/hold"
}

pc_slow_mirror_release() {
	touch "$SLOW_CONTROL/release"
}
