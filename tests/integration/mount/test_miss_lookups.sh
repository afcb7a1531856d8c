#!/usr/bin/env bash
# A chunk that is not cached costs no path lookup (store/present.c): a cold
# read of files of one chunk and of several, traced with strace, makes no
# failed open, access or stat of a chunk file (before the filter, each
# miss looked its chunk up three times: the open's passthrough attempt and
# read-ahead, the read, the fetch).  The filter never hides a cached
# chunk: after a clean stop and after a kill -9 (rebuilt from the index),
# every file reads back from the cache with the mirror gone.  (strace is
# installed by scripts/install-deps.sh.)
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup
command -v strace >/dev/null || fail "strace is not installed (scripts/install-deps.sh)"

mkdir src
for i in 1 2 3; do
	pc_random "src/small$i.bin" 100K
done
pc_random src/large.bin 9M # more than two chunks (PC_CHUNK_MAX is 4 MiB)
pc_random src/late.bin 100K
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

# strace_start: traces every thread of the daemon into trace.TID; returns
# once strace has attached them.
strace_start() {
	local deadline=$((SECONDS + 10))
	# -ff: a file per thread, so that no call is split in two lines.
	strace -ff -e trace=openat,faccessat,faccessat2,newfstatat,statx,renameat2 \
		-o "$PC_TMP/trace" -p "$PC_DAEMON_PID" 2>"$PC_TMP/strace.err" &
	strace_pid=$!
	pc_on_exit "kill -INT $strace_pid 2>/dev/null || true"
	# "Process N attached with M threads": after it has attached them all.
	until grep -q attached "$PC_TMP/strace.err"; do
		kill -0 "$strace_pid" 2>/dev/null ||
			fail "strace did not start: $(cat "$PC_TMP/strace.err")"
		[ $SECONDS -lt $deadline ] || fail "strace did not attach in 10 s"
		sleep 0.05
	done
}

# wait_cached FILE...: until every chunk of the files has its file in
# cache/chunks/ (a reader gets the bytes from memory before the worker
# writes the file), 10 s at most.
wait_cached() {
	local deadline=$((SECONDS + 10)) f id
	for f in "$@"; do
		for id in $(manifest_file_chunks "$(manifest_path repo)" "$f"); do
			until [ -e "cache/chunks/${id:0:2}/$id" ]; do
				[ $SECONDS -lt $deadline ] ||
					fail "chunk $id of $f not in the cache after 10 s"
				sleep 0.02
			done
		done
	done
}

strace_stop() {
	kill -INT "$strace_pid"
	wait "$strace_pid" 2>/dev/null || true
}

strace_start
for f in small1 small2 small3 large; do
	assert_file_same "src/$f.bin" "mnt/$f.bin"
done
wait_cached small1.bin small2.bin small3.bin large.bin
strace_stop
cat "$PC_TMP"/trace.* >"$PC_TMP/trace"

# The calls on chunks/ paths.  A chunk's bits are set once its rename is
# done, so a failed lookup of a chunk file (not a rename's) is a miss that
# went to the disk; nothing here removes a chunk.
read -r renamed missed < <(awk -v out="$PC_TMP/missed" '
	/"[0-9a-f][0-9a-f]\/[0-9a-f]+"/ {
		if ($0 ~ /^renameat2\(/) {
			if ($0 ~ / = 0$/) renamed++
		} else if ($0 ~ /= -1 ENOENT/) {
			missed++
			print > out
		}
	}
	END { close(out); print renamed + 0, missed + 0 }' "$PC_TMP/trace")
chunks=0
for f in small1 small2 small3 large; do
	chunks=$((chunks + $(manifest_file_chunks "$(manifest_path repo)" "$f.bin" | wc -l)))
done
# The control: strace saw the workers rename the files' chunks in.
[ "$chunks" -ge 6 ] && [ "$renamed" -ge "$chunks" ] ||
	fail "strace saw $renamed renames into chunks/ for the files' $chunks chunks: it did not trace the daemon"
[ "$missed" -eq 0 ] ||
	fail "$missed lookups of chunks that were not cached went to the disk:
$(head -n 5 "$PC_TMP/missed")"
echo "cold read of 4 files ($chunks chunks): no lookup of a missing chunk, $renamed renames traced"

# Cached chunks are found after a kill -9 (one chunk renamed in just
# before it, likely not yet indexed: the reconcile indexes it) and after
# a clean stop, from the index the filter is built from, with the mirror
# gone.
assert_file_same src/late.bin mnt/late.bin
wait_cached late.bin
pc_daemon_kill9
pc_nginx_stop
for how in kill9 stop; do
	pc_mount_repo
	echo 3 >/proc/sys/vm/drop_caches
	for f in small1 small2 small3 large late; do
		assert_file_same "src/$f.bin" "mnt/$f.bin"
	done
	[ $how = stop ] || pc_daemon_stop
done
echo "after a kill -9 and after a clean stop: every file from the cache"
