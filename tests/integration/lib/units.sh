# units.sh - the project's systemd units run the way systemd runs them, on
# a machine where systemd is not PID 1 (here, and in CI containers).  What
# a unit says is what runs: its Environment= and EnvironmentFile= (with
# "-"), ConditionPathExists=, ExecStartPre=, ExecStart= and ExecStopPost=
# (with "-"), %i, "${VAR}" (one word) and "$VAR" (split at spaces); a
# Type=notify service counts as started at READY=1 on its NOTIFY_SOCKET,
# a Type=oneshot one when its command ends.  Each service gets systemd's
# clean environment, not the test's.  (systemd-analyze verify checks the
# rest of the units: tests/integration/ops/test_systemd_units.sh.)  Source
# after common.sh.
#
#   PC_UNIT_DIR                   the directory of the unit files
#   pc_unit_start UNIT            e.g. peercache@av-updates(.service);
#                                 fails the test if the service fails
#   pc_unit_stop UNIT             SIGTERM, then ExecStopPost=; fails the
#                                 test on a sanitizer report in its log
#   pc_unit_reload UNIT           ExecReload= (systemctl reload), with
#                                 $MAINPID; a MAINPID= the service sent
#                                 meanwhile makes that the main process
#   pc_unit_status UNIT           "Active: active (running)" or "inactive
#                                 (dead)", and the last STATUS= line
#   pc_unit_log UNIT              what the service wrote (its journal)
#   pc_unit_pid UNIT              the main process, if it runs

PC_UNIT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# unit_parse UNIT: UNIT_NAME (with .service), UNIT_FILE (the template for
# an instance), UNIT_INSTANCE, UNIT_STATE (its directory of run state).
unit_parse() {
	local unit=$1
	case "$unit" in *.service | *.timer) ;; *) unit="$unit.service" ;; esac
	UNIT_NAME=$unit
	UNIT_INSTANCE=""
	UNIT_FILE="$PC_UNIT_DIR/$unit"
	if [[ "$unit" =~ ^([^@]+)@([^.]*)\.(service|timer)$ ]]; then
		UNIT_INSTANCE=${BASH_REMATCH[2]}
		UNIT_FILE="$PC_UNIT_DIR/${BASH_REMATCH[1]}@.${BASH_REMATCH[3]}"
	fi
	[ -f "$UNIT_FILE" ] || fail "Unit $UNIT_NAME not found (no $UNIT_FILE)"
	UNIT_STATE="$PC_TMP/units/$UNIT_NAME"
	mkdir -p "$UNIT_STATE"
}

# unit_values KEY: the values of KEY= in the unit, %i replaced.
unit_values() {
	sed -n "s/^$1=//p" "$UNIT_FILE" | sed "s/%i/$UNIT_INSTANCE/g"
}

# unit_env_file FILE: its assignments appended to UNIT_ENV (systemd's
# syntax: KEY=VALUE, # and ; comments, optional quotes).
unit_env_file() {
	local line key value
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line#"${line%%[![:space:]]*}"}
		case "$line" in '' | '#'* | ';'*) continue ;; esac
		key=${line%%=*}
		value=${line#*=}
		if [[ "$value" =~ ^\"(.*)\"$ ]] || [[ "$value" =~ ^\'(.*)\'$ ]]; then
			value=${BASH_REMATCH[1]}
		fi
		UNIT_ENV+=("$key=$value")
	done <"$1"
}

# unit_environment: UNIT_ENV, the service's environment.
unit_environment() {
	local line file
	UNIT_ENV=("PATH=$PC_UNIT_PATH" "LANG=C.UTF-8")
	# A sanitizer build's options (make test-asan, test-tsan: the
	# suppressions of known false positives) reach the services too.
	for line in ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; do
		[ -z "${!line:-}" ] || UNIT_ENV+=("$line=${!line}")
	done
	while IFS= read -r line; do
		UNIT_ENV+=("$line")
	done < <(unit_values Environment)
	while IFS= read -r file; do
		if [ "${file:0:1}" = "-" ]; then
			file=${file:1}
			[ -f "$file" ] || continue
		fi
		[ -f "$file" ] || fail "$UNIT_NAME: EnvironmentFile $file is missing"
		unit_env_file "$file"
	done < <(unit_values EnvironmentFile)
}

# unit_var NAME: its value in UNIT_ENV (the last assignment wins).
unit_var() {
	local entry value=""
	for entry in "${UNIT_ENV[@]}"; do
		[ "${entry%%=*}" = "$1" ] && value=${entry#*=}
	done
	printf '%s' "$value"
}

# unit_expand LINE: CMD (an array) as systemd would run it; CMD_IGNORE
# when the line starts with "-".
unit_expand() {
	local line=$1 word name
	CMD=()
	CMD_IGNORE=false
	if [ "${line:0:1}" = "-" ]; then
		CMD_IGNORE=true
		line=${line:1}
	fi
	set -f
	# shellcheck disable=SC2086
	set -- $line
	set +f
	for word in "$@"; do
		if [[ "$word" =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
			# shellcheck disable=SC2207
			CMD+=($(unit_var "${BASH_REMATCH[1]}"))
			continue
		fi
		while [[ "$word" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			name=${BASH_REMATCH[1]}
			word=${word//\$\{$name\}/$(unit_var "$name")}
		done
		CMD+=("$word")
	done
}

# unit_run_lines KEY: every KEY= command in order; a failure stops the
# start (returns 1) unless the line starts with "-".
unit_run_lines() {
	local line
	while IFS= read -r line; do
		unit_expand "$line"
		if ! env -i "${UNIT_ENV[@]}" "${CMD[@]}" >>"$UNIT_STATE/log" 2>&1; then
			$CMD_IGNORE || {
				echo "$UNIT_NAME: $1 failed: ${CMD[*]}" >>"$UNIT_STATE/log"
				return 1
			}
		fi
	done < <(unit_values "$1")
}

# The notification socket of a Type=notify service: every datagram's lines
# appended to $UNIT_STATE/notify.
unit_notify_listener() {
	rm -f "$UNIT_STATE/notify.sock"
	python3 - "$UNIT_STATE/notify.sock" "$UNIT_STATE/notify" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(600)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        try:
            out.write(s.recv(4096).decode() + "\n")
        except socket.timeout:
            break
PY
	echo $! >"$UNIT_STATE/notify.pid"
	pc_on_exit "kill $! 2>/dev/null || true"
	local i
	for i in $(seq 100); do
		[ -S "$UNIT_STATE/notify.sock" ] && return 0
		sleep 0.05
	done
	fail "the notification listener of $UNIT_NAME did not start"
}

pc_unit_start() {
	local condition type deadline pid
	unit_parse "$1"
	if [ -n "$(pc_unit_pid "$1")" ]; then
		return 0 # already running
	fi
	while IFS= read -r condition; do
		[ -e "$condition" ] || {
			echo "$UNIT_NAME: condition failed: ConditionPathExists=$condition" >>"$UNIT_STATE/log"
			return 0 # systemd skips it, successfully
		}
	done < <(unit_values ConditionPathExists)
	unit_environment
	unit_run_lines ExecStartPre || fail "$UNIT_NAME failed to start:
$(cat "$UNIT_STATE/log")"
	[ "$(unit_values ExecStart | wc -l)" = 1 ] || fail "$UNIT_NAME: not one ExecStart="
	unit_expand "$(unit_values ExecStart)"
	type=$(unit_values Type)
	if [ "$type" = oneshot ]; then
		env -i "${UNIT_ENV[@]}" "${CMD[@]}" >>"$UNIT_STATE/log" 2>&1 ||
			fail "$UNIT_NAME failed: ${CMD[*]}:
$(cat "$UNIT_STATE/log")"
		return 0
	fi
	[ "$type" = notify ] || fail "$UNIT_NAME: Type=$type is not run here"
	unit_notify_listener
	: >"$UNIT_STATE/notify"
	env -i "${UNIT_ENV[@]}" NOTIFY_SOCKET="$UNIT_STATE/notify.sock" \
		"${CMD[@]}" >>"$UNIT_STATE/log" 2>&1 &
	pid=$!
	echo "$pid" >"$UNIT_STATE/pid"
	pc_on_exit "unit_kill_at_exit $pid"
	deadline=$((SECONDS + 120)) # TimeoutStartSec
	until grep -qx "READY=1" "$UNIT_STATE/notify"; do
		kill -0 "$pid" 2>/dev/null || {
			rm -f "$UNIT_STATE/pid"
			fail "$UNIT_NAME failed to start (the daemon exited):
$(cat "$UNIT_STATE/log")"
		}
		[ $SECONDS -lt $deadline ] || fail "$UNIT_NAME: no READY=1 in 120 s:
$(cat "$UNIT_STATE/log")"
		sleep 0.05
	done
}

# At exit: a service still running is stopped (SIGTERM, then SIGKILL).
unit_kill_at_exit() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

pc_unit_pid() {
	local pid
	unit_parse "$1"
	pid=$(cat "$UNIT_STATE/pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		echo "$pid"
	fi
}

pc_unit_stop() {
	local pid i
	pid=$(pc_unit_pid "$1")
	unit_parse "$1"
	if [ -n "$pid" ]; then
		kill -TERM "$pid"
		for i in $(seq 300); do # TimeoutStopSec
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
			fail "$UNIT_NAME did not stop on SIGTERM (killed)"
		fi
		wait "$pid" 2>/dev/null || true
		rm -f "$UNIT_STATE/pid"
	fi
	if grep -qE 'Sanitizer|runtime error' "$UNIT_STATE/log" 2>/dev/null; then
		fail "$UNIT_NAME: a sanitizer report in its log:
$(grep -E -A40 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error' "$UNIT_STATE/log" | head -80)"
	fi
	unit_environment
	unit_run_lines ExecStopPost || true
}

pc_unit_reload() {
	local pid
	pid=$(pc_unit_pid "$1")
	[ -n "$pid" ] || fail "$UNIT_NAME is not running: it cannot reload"
	unit_environment
	UNIT_ENV+=("MAINPID=$pid")
	unit_run_lines ExecReload || fail "$UNIT_NAME failed to reload:
$(tail -20 "$UNIT_STATE/log")"
	pid=$(sed -n 's/^MAINPID=//p' "$UNIT_STATE/notify" | tail -1)
	[ -z "$pid" ] || echo "$pid" >"$UNIT_STATE/pid"
}

pc_unit_status() {
	local pid
	pid=$(pc_unit_pid "$1")
	if [ -n "$pid" ]; then
		echo "     Active: active (running)"
		echo "   Main PID: $pid"
	else
		echo "     Active: inactive (dead)"
	fi
	grep '^STATUS=' "$UNIT_STATE/notify" 2>/dev/null | tail -1 |
		sed 's/^STATUS=/     Status: "/; s/$/"/'
	return 0
}

pc_unit_log() {
	unit_parse "$1"
	cat "$UNIT_STATE/log" 2>/dev/null || true
}
