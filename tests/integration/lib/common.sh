# common.sh - sourced by every integration test (bash, `set -eu`).
#
# A test calls pc_setup first.  It gets a private temporary directory in
# $PC_TMP (also the working directory) and an EXIT trap that undoes
# everything the test registered with pc_on_exit, newest first (unmount
# before removing what was mounted, stop a server before deleting its
# root), then removes $PC_TMP.  The trap runs however the test ends:
# success, a failed assertion, a command failing under `set -e`, or a
# signal.  Later areas (mounts, nginx, namespaces) add their own helpers in
# lib/ and register their teardown here.
#
# Assertions print "FAIL: file:line: message" (the line of the test that
# called them) and exit 1.
#
# Environment, set by CTest (tests/integration/CMakeLists.txt):
#   PC_BIN   the bin/ directory of the build under test
#   PC_SRC   the source tree

: "${PC_BIN:?PC_BIN must be the bin directory of a build (CTest sets it)}"
: "${PC_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"

PC_TMP=""
PC_CLEANUPS=()

# Runs the registered cleanups in reverse order, then removes $PC_TMP.
# Keeps the test's exit status; a failing cleanup step is reported but does
# not stop the others.
pc_cleanup() {
	local status=$? i
	trap - ERR
	set +e
	PC_CLEANING=1 # a fail() from here on reports and goes on (fail)
	for ((i = ${#PC_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${PC_CLEANUPS[i]}" ||
			echo "warning: cleanup step failed: ${PC_CLEANUPS[i]}" >&2
	done
	PC_CLEANUPS=()
	if [ -n "$PC_TMP" ] && [ -d "$PC_TMP" ]; then
		cd /
		rm -rf "$PC_TMP"
	fi
	# A check that failed during the cleanup fails the test.
	[ "$status" -ne 0 ] || [ -z "${PC_CLEANUP_FAILED:-}" ] || exit 1
	return "$status"
}

# Where the test is: "file:line" of the test script's top-level statement
# that led here and, if the failure happened inside a helper of the test's
# own (in the script or in a file next to it), "(file:line)" of that.
# Frames in lib/ are skipped.
pc_caller() {
	local i here inner="" outer=""
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		case "${BASH_SOURCE[i]}" in
		*/lib/*.sh) continue ;;
		esac
		here="$(basename "${BASH_SOURCE[i]}"):${BASH_LINENO[i - 1]}"
		[ -n "$inner" ] || inner=$here
		outer=$here
	done
	if [ -z "$outer" ]; then
		echo "?:?"
	elif [ "$inner" = "$outer" ]; then
		echo "$outer"
	else
		echo "$outer ($inner)"
	fi
}

# A command that fails outside a condition ends the test (set -e); say
# which and where, as an assertion would.
pc_on_error() {
	echo "FAIL: $(pc_caller): command failed with status $1: $2" >&2
}

# pc_setup: the temporary directory and the traps.
pc_setup() {
	PC_TMP=$(mktemp -d /tmp/pc-test.XXXXXX)
	trap pc_cleanup EXIT
	set -E # functions and subshells inherit the ERR trap
	trap 'pc_on_error $? "$BASH_COMMAND"' ERR
	# A signal ends the test through the EXIT trap with the usual status.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd "$PC_TMP" || exit 1
}

# pc_on_exit 'command': run it when the test ends (newest first).
pc_on_exit() {
	PC_CLEANUPS+=("$1")
}

# fail MESSAGE: report where and stop the test.  During the cleanup (a
# check of a cleanup step, e.g. pc_unit_stop's sanitizer report), it
# returns 1 instead and the test fails at the end of the cleanup: an exit
# there would skip the steps left (nginx, mounts), whose processes would
# hold ctest's pipe open until its timeout.
fail() {
	echo "FAIL: $(pc_caller): $*" >&2
	if [ -n "${PC_CLEANING:-}" ]; then
		PC_CLEANUP_FAILED=1
		return 1
	fi
	exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] ||
		fail "$3: expected '$1', got '$2'"
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "$3: '$2' not found in:
$1" ;;
	esac
}

# assert_not_contains HAYSTACK NEEDLE WHAT
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "$3: '$2' unexpectedly found in:
$1" ;;
	*) ;;
	esac
}

# assert_file_same A B: both exist and are byte-identical.
assert_file_same() {
	[ -f "$1" ] || fail "$1 does not exist"
	[ -f "$2" ] || fail "$2 does not exist"
	cmp -s -- "$1" "$2" || fail "$1 and $2 differ"
}

# pc_run COMMAND...: runs COMMAND without tripping `set -e`; its exit status
# lands in $PC_RC and its stdout and stderr, together, in $PC_OUT.
pc_run() {
	PC_RC=0
	PC_OUT=$("$@" 2>&1) || PC_RC=$?
}

# expect_status STATUS NEEDLE WHAT COMMAND...: COMMAND exits with STATUS and
# says NEEDLE.  Leaves the output in $PC_OUT for further checks.
expect_status() {
	local status=$1 needle=$2 what=$3
	shift 3
	pc_run "$@"
	[ "$PC_RC" = "$status" ] ||
		fail "$what: exit status $PC_RC, expected $status; output:
$PC_OUT"
	assert_contains "$PC_OUT" "$needle" "$what"
}

# pc_flip_byte FILE OFFSET: inverts one byte in place.
pc_flip_byte() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
	[ -n "$byte" ] || fail "pc_flip_byte: $1 has no byte at offset $2"
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((byte ^ 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
