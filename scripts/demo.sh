#!/bin/bash
# demo.sh BUILD_DIR - peercache from the mirror's side, in a minute.
#
# Publishes the sample update tree in examples/ the way a vendor's mirror
# host would, checks the result the way a node would, mounts it with
# peercache as an endpoint would (a file:// mirror), publishes a definitions
# update to show that only its changed chunks are new and that the mount
# switches to it, prints the node's statistics and unmounts.  Mounting
# needs root (FUSE with allow_other).
# Everything lands in demo/ at the top of the source tree (ignored by git),
# which is recreated on every run; PC_DEMO_DIR puts it elsewhere.
#
# Each step is a function called from main; a step that needs another tool
# (mounting the mirror with peercache, for instance) is one more function
# and one more line in main.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
DEMO=${PC_DEMO_DIR:-$SRC/demo}
PUBLISH="$BUILD/bin/peercache-publish"
PEERCACHE="$BUILD/bin/peercache"
PEERCACHECTL="$BUILD/bin/peercachectl"
NAME=demo-updates
MNT="$DEMO/mnt"
CACHE="$DEMO/cache"
DAEMON_PID=""

MIRROR="$DEMO/mirror"
KEY="$DEMO/signing.key"

BOLD="" PLAIN=""
if [ -t 1 ]; then
	BOLD=$(printf '\033[1m') PLAIN=$(printf '\033[0m')
fi

heading() {
	printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"
}
say() {
	printf '    %s\n' "$@"
}
# Indents a command's output under the current heading.
indented() {
	"$@" 2>&1 | sed 's/^/    | /'
	return "${PIPESTATUS[0]}"
}

# The mount never outlives the demo, even when a step fails.
stop_daemon() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	DAEMON_PID=""
	if grep -q " $MNT fuse" /proc/mounts; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
}
trap stop_daemon EXIT

step_prepare() {
	[ -x "$PUBLISH" ] && [ -x "$PEERCACHE" ] || {
		echo "demo.sh: binaries not found in $BUILD/bin; run 'make build' first" >&2
		exit 1
	}
	stop_daemon
	rm -rf "$DEMO"
	mkdir -p "$DEMO"
	heading "1. A signing key for the mirror"
	indented "$PUBLISH" keygen "$KEY"
	say "Nodes are given $KEY.pub and accept only heads it signed."
}

step_publish() {
	heading "2. Publishing examples/ (an antivirus update tree) to $MIRROR"
	say "Files are cut into content-defined chunks, each stored under its"
	say "SHA-256; a manifest lists every entry; a signed head names it."
	echo
	indented "$PUBLISH" --key "$KEY" --name "$NAME" --no-progress \
		"$SRC/examples" "$MIRROR"
	echo
	say "What a web server (or a file:// mirror) now serves:"
	say "  $MIRROR/head         $(wc -c <"$MIRROR/head") bytes, signed"
	say "  $MIRROR/chunks/      $(find "$MIRROR/chunks" -type f | wc -l) objects (chunks and the manifest)"
}

step_verify() {
	heading "3. Checking the mirror the way a node does"
	say "Signature of the head, then the manifest against the head, then"
	say "every chunk against the manifest:"
	indented "$PUBLISH" verify --trusted-key "$KEY.pub" "$MIRROR"
	indented "$PUBLISH" extract --trusted-key "$KEY.pub" "$MIRROR" \
		"$DEMO/extracted"
	diff -r --no-dereference "$SRC/examples" "$DEMO/extracted" >/dev/null
	say "The tree rebuilt from the mirror in $DEMO/extracted"
	say "is identical to examples/."
}

step_mount() {
	local sum

	heading "4. Mounting the mirror as an endpoint would"
	mkdir -p "$MNT" "$CACHE"
	"$PEERCACHE" -f -o mirror="file://$MIRROR" -o trusted_key="$KEY.pub" \
		-o cache_dir="$CACHE" -o poll_interval=1h \
		-o discovery=off -o peer_server=off "$MNT" \
		>"$DEMO/peercache.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		grep -q " $MNT fuse" /proc/mounts && break
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	grep -q " $MNT fuse" /proc/mounts || {
		cat "$DEMO/peercache.log" >&2
		echo "demo.sh: peercache did not mount $MNT" >&2
		exit 1
	}
	say "peercache -f -o mirror=file://$MIRROR -o trusted_key=$KEY.pub \\"
	say "          -o cache_dir=$CACHE -o discovery=off -o peer_server=off $MNT"
	say "(LAN peers are off: a demo stays on this machine)"
	say ""
	say "The published tree, read-only (nothing is downloaded yet):"
	indented ls -lR "$MNT"
	sum=$(sha256sum <"$MNT/definitions/daily.cvd" | cut -d' ' -f1)
	[ "$sum" = "$(sha256sum <"$SRC/examples/definitions/daily.cvd" | cut -d' ' -f1)" ] || {
		echo "demo.sh: daily.cvd read through the mount differs" >&2
		exit 1
	}
	say ""
	say "definitions/daily.cvd read through the mount: sha256 $sum,"
	say "identical to examples/ (every chunk was verified on its way in)."
	indented "$PEERCACHECTL" --cache-dir "$CACHE" status
}

step_update() {
	local next="$DEMO/next" old_sum old_size new_sum new_size

	heading "5. A definitions update: only what changed is new"
	cp -a "$SRC/examples" "$next"
	# An incremental update appended to the daily database (as ClamAV
	# does to a .cld when it applies a .cdiff): 200 kB of new signatures,
	# the same bytes on every run.
	old_sum=$(sha256sum <"$next/definitions/daily.cvd" | cut -d' ' -f1)
	old_size=$(stat -c %s "$next/definitions/daily.cvd")
	head -c 200000 /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K 0123456789abcdef0123456789abcdef \
			-iv 00000000000000000000000000000000 \
			>>"$next/definitions/daily.cvd"
	new_sum=$(sha256sum <"$next/definitions/daily.cvd" | cut -d' ' -f1)
	new_size=$(stat -c %s "$next/definitions/daily.cvd")
	sed -i -e "s/$old_sum/$new_sum/" -e "s/\"size\": $old_size,/\"size\": $new_size,/" \
		-e 's/"version": "27460"/"version": "27461"/' "$next/catalog.json"
	say "definitions/daily.cvd grew by 200 kB and catalog.json says so;"
	say "publishing again:"
	echo
	indented "$PUBLISH" --key "$KEY" --name "$NAME" --no-progress \
		"$DEMO/next" "$MIRROR"
	echo
	say "The chunks before the change are reused: nodes that have"
	say "version 1 fetch only the new ones, from a neighbour if it has them."
	indented "$PUBLISH" verify --trusted-key "$KEY.pub" "$MIRROR"
	echo
	say "The node checks for the new version (it would on its own every"
	say "poll_interval) and switches to it atomically:"
	indented "$PEERCACHECTL" --cache-dir "$CACHE" refresh
	[ "$(stat -c %s "$MNT/definitions/daily.cvd")" = "$new_size" ] || {
		echo "demo.sh: the mount did not switch to version 2" >&2
		exit 1
	}
	cmp -s "$MNT/definitions/daily.cvd" "$next/definitions/daily.cvd" || {
		echo "demo.sh: daily.cvd of version 2 differs through the mount" >&2
		exit 1
	}
	say "definitions/daily.cvd through the mount is now $new_size bytes,"
	say "identical to the new source; version 1 is kept as the fallback."
}

step_stats() {
	heading "6. What the node fetched, and from where"
	sleep 1.2 # the index is written once a second
	indented "$PEERCACHECTL" --cache-dir "$CACHE" stats
	stop_daemon
	say ""
	say "Unmounted.  The cache in $CACHE keeps the chunks: a restart"
	say "serves them without asking the mirror."
}

step_summary() {
	heading "Done"
	say "mirror:      $MIRROR (serve it with any static web server,"
	say "             e.g. python3 -m http.server -d $MIRROR)"
	say "trusted key: $KEY.pub"
	say "signing key: $KEY (keep it on the publishing host only)"
}

main() {
	step_prepare
	step_publish
	step_verify
	step_mount
	step_update
	step_stats
	step_summary
}

main
