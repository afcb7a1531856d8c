#!/usr/bin/env bash
# One daemon, two repositories: a version switch of one drops the daemon's
# view of the whole index (store_map_trim after the install), so every
# repository's tree is mapped again after it (net/upkeep.c:
# net_upkeep_warm), not only the switched one's.  After engine installs
# version 2, the page cache is dropped: looking up every name of av-defs
# reads no byte of the index from the disk (pipeline/index_warm has the
# one-repository case).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh" # pc_wait_for
pc_setup
. "$(dirname "$0")/loopback.sh"

mkdir -p www
# tree DIR N: N files of a few bytes in 10 directories.
tree() {
	python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "dir-%02d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a-longer-file-name-%05d" % i), "w") as f:
        f.write("%d\n" % i)
PY
}
tree src-av 2500
tree src-engine 200
pc_publish_as av-defs av.key src-av www/av
pc_publish_as engine engine.key src-engine www/engine
pc_nginx_start "$PC_TMP/www"

mkdir -p "$AV" "$ENGINE" cache
pc_two_repos_conf node.conf engine
PC_DAEMON_LOG="$PC_TMP/daemon.log"
"$PEERCACHE" -f -c node.conf >>"$PC_DAEMON_LOG" 2>&1 &
PC_DAEMON_PID=$!
pc_on_exit 'pc_unmount_each "$AV" "$ENGINE"'
pc_on_exit 'pc_daemon_cleanup "$PC_DAEMON_PID" "$AV" "$PC_DAEMON_LOG"'
installed() { # NAME VERSION
	grep -q "$1.*version $2 installed" "$PC_DAEMON_LOG"
}
pc_wait_for "av-defs version 1 not installed" installed av-defs 1
pc_wait_for "engine version 1 not installed" installed engine 1

# engine: version 2, installed while av-defs was never looked up.
echo "new" >src-engine/new.txt
pc_publish_as engine engine.key src-engine www/engine
pc_run "$PEERCACHECTL" --cache-dir "$PC_TMP/cache" -r engine refresh
assert_contains "$PC_OUT" "version 2" "engine's refresh"
sleep 1 # the warm-up after the switch, and a group commit

index_cached() { fincore -b -n -o RES cache/index/data.mdb; }
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(index_cached)
names=$(cd "$AV" && find . -type f | wc -l)
stat "$AV"/dir-*/* >/dev/null
after=$(index_cached)
assert_eq 2500 "$names" "av-defs's names"
echo "after engine's switch: every lookup of av-defs read" \
	"$((after - before)) bytes of the index"
assert_eq 0 $((after - before)) "bytes of the index read from the disk"
echo "ok"
