#!/usr/bin/env bash
# A reader of a small file waits for the network and the hash, never for
# the disk (issue 11): once a chunk is verified, the readers waiting for it
# get its bytes from memory, before its file is even created in the cache.
# The cache is on pc-crashfs with creates stalled (-o stall=FILE: a disk
# whose metadata work is slow): a cold read of a small file must still
# answer at once, and the chunk reaches the cache once creates go on.  A
# worker that writes the chunk before it tells the readers fails this.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
. "$PC_SRC/tests/helpers/crashfs/crashfs.sh"
pc_setup

mkdir src
pc_random src/a.bin 40K
pc_random src/b.bin 90K
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
STALL=$PC_TMP/stall
crashfs_mount "$PC_TMP/backing" "$PC_TMP/cachefs" -o "stall=$STALL"
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cachefs/cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub"
# Never leave the daemon stuck at exit: registered after the daemon's own
# cleanup, so that it runs before it (cleanups run newest first).
pc_on_exit "rm -f '$STALL'"
ls "$PC_TMP/mnt" >/dev/null # the version is installed

touch "$STALL"
for f in a b; do
	timeout 5 cat "$PC_TMP/mnt/$f.bin" >"$PC_TMP/$f.out" ||
		fail "reading $f.bin waited for the stalled disk"
	cmp "$PC_TMP/$f.out" "src/$f.bin" || fail "$f.bin read back wrong"
done
id=$(manifest_file_chunks "$(manifest_path repo)" a.bin)
[ ! -e "$PC_TMP/cachefs/cache/chunks/${id:0:2}/$id" ] ||
	fail "the chunk was stored while creates stalled: the test proves nothing"

rm "$STALL"
deadline=$((SECONDS + 10))
until [ -e "$PC_TMP/cachefs/cache/chunks/${id:0:2}/$id" ]; do
	[ $SECONDS -lt $deadline ] || fail "the chunk never reached the cache"
	sleep 0.05
done
pc_daemon_stop
echo "ok"
