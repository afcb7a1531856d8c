#!/usr/bin/env bash
# The guide's nfs-ganesha block (docs/ADMIN.md, the code block marked
# "walk: ganesha"), as written, exports two repositories from one node:
#  - ganesha takes both exports (only the first has fsid_type = Major64;
#    the old block with Major64 twice is refused: "Can not change fsid
#    type");
#  - every file reads back over NFSv3 and v4, as root and as another user,
#    also those published with mode 0600 or below a 0750 directory
#    (All_Squash with Anonymous_Uid/Gid = 0); with All_Squash alone they
#    are refused, as the guide says;
#  - a client of the Major64 export keeps its file handle across a restart
#    of that repository's daemon (and of ganesha).
# Only the paths (the two mount points) and the test's own ports, logs and
# recovery directory are changed in the block.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/nfs.sh"
pc_nfs_isolate "$@"
pc_setup

# The guide's block, with the mount points of this test.
GUIDE_BLOCK=$(awk '/^<!-- walk: ganesha -->$/ { marked = 1; next }
	marked && /^```/ { if (inside) exit; inside = 1; next }
	inside { print }' "$PC_SRC/docs/ADMIN.md")
[ -n "$GUIDE_BLOCK" ] || fail "no block marked 'walk: ganesha' in docs/ADMIN.md"
assert_contains "$GUIDE_BLOCK" "Path = /srv/peercache/av-updates;" "the guide's block"
assert_contains "$GUIDE_BLOCK" "Path = /srv/peercache/engines;" "the guide's block"

for name in av-updates engines; do
	mkdir -p "src-$name/defs"
	echo "$name readable by all" >"src-$name/public.txt"
	echo "$name mode 0600" >"src-$name/private.txt"
	chmod 600 "src-$name/private.txt"
	echo "$name below a 0750 directory" >"src-$name/defs/daily.dat"
	chmod 750 "src-$name/defs"
	chmod 640 "src-$name/defs/daily.dat"
	pc_random "src-$name/engine.bin" 3M
	pc_publish "src-$name" "repo-$name"
done
# engines first: pc_daemon_stop/start below act on the last one started.
for name in engines av-updates; do
	pc_daemon_start "$PC_TMP/mnt-$name" "$PC_TMP/cache-$name" \
		-o mirror="file://$PC_TMP/repo-$name" -o trusted_key="$PC_TMP/key.pub"
done

NFS_DIR="$PC_TMP/ops-nfs"
mkdir -p "$NFS_DIR/recovery"
mount -t tmpfs admin-nfs-run /run
pc_on_exit "umount -l /run"
mkdir -p /run/rpcbind
rpcbind -f -w >"$NFS_DIR/rpcbind.log" 2>&1 &
pc_on_exit "nfs_kill $! 5"
nfs_wait_for "test -S /run/rpcbind.sock" 10 "rpcbind did not start"
NFS_PORT=$(pc_free_port)
NFS_MNT_PORT=$(pc_free_port)
NFS_LOG="$NFS_DIR/ganesha.log"

# ganesha_conf BLOCK: the test's ganesha.conf, from a guide-style block.
ganesha_conf() {
	sed -e "s#/srv/peercache/av-updates;#$PC_TMP/mnt-av-updates;#" \
		-e "s#/srv/peercache/engines;#$PC_TMP/mnt-engines;#" \
		-e "s#^NFS_CORE_PARAM {#NFS_CORE_PARAM { NFS_Port = $NFS_PORT; MNT_Port = $NFS_MNT_PORT; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;#" \
		<<<"$1" >"$NFS_DIR/ganesha.conf"
	cat >>"$NFS_DIR/ganesha.conf" <<CONF
NFSV4 { RecoveryBackend = fs; RecoveryRoot = $NFS_DIR/recovery; Graceless = true; }
LOG { Default_Log_Level = EVENT; Components { FSAL = INFO; } }
CONF
}

# url EXPORT PATH VERSION [UID]: an nfs:// URL for libnfs.
url() {
	local ports="nfsport=$NFS_PORT" as=""
	[ "$3" = 4 ] || ports="$ports&mountport=$NFS_MNT_PORT"
	[ -z "${4:-}" ] || as="&uid=$4&gid=$4"
	echo "nfs://127.0.0.1/$1${2:+/$2}?version=$3&$ports$as"
}

ganesha_start() {
	: >"$NFS_LOG"
	ganesha.nfsd -F -f "$NFS_DIR/ganesha.conf" -L "$NFS_LOG" \
		-p "$NFS_DIR/ganesha.pid" -N NIV_EVENT >>"$NFS_DIR/ganesha.out" 2>&1 &
	NFS_PID=$!
	pc_on_exit "nfs_kill $NFS_PID 20"
	nfs_wait_for 'nfs-ls "$(url av-updates "" 3)" >/dev/null 2>&1' 30 \
		"ganesha does not serve /av-updates"
}

# reads EXPORT PATH EXPECTED: the file reads back over v3 and v4, as root
# and as uid 1000.
reads() {
	local vers who
	for vers in 3 4; do
		for who in "" 1000; do
			nfs-cat "$(url "$1" "$2" "$vers" "$who")" >out 2>out.err ||
				fail "/$1/$2 over NFSv$vers as uid ${who:-0}: $(cat out.err)"
			cmp -s out "$3" || fail "/$1/$2 over NFSv$vers as uid ${who:-0} differs"
		done
	done
}

# --- the old block, Major64 on both exports: the second is refused ---------------
ganesha_conf "$(sed 's/FSAL { Name = VFS; }/FSAL { Name = VFS; fsid_type = Major64; }/' <<<"$GUIDE_BLOCK")"
ganesha_start
nfs_wait_for 'grep -q "Can not change fsid type" "$NFS_LOG"' 10 \
	"Major64 twice: ganesha took both exports (the guide's warning is stale)"
nfs_kill "$NFS_PID" 20

# --- the guide's block ---------------------------------------------------------------
ganesha_conf "$GUIDE_BLOCK"
ganesha_start
if grep -E 'CRIT' "$NFS_LOG" | grep -E 'FSAL|CONFIG|EXPORT'; then
	fail "ganesha refused part of the guide's block: $(grep CRIT "$NFS_LOG")"
fi
for name in av-updates engines; do
	for path in public.txt private.txt defs/daily.dat engine.bin; do
		reads "$name" "$path" "src-$name/$path"
	done
done

# All_Squash alone: the 0600 file and the 0750 directory are refused.
ganesha_conf "$(grep -v 'Anonymous_' <<<"$GUIDE_BLOCK")"
nfs_kill "$NFS_PID" 20
ganesha_start
nfs-cat "$(url engines public.txt 3 1000)" >out || fail "All_Squash alone: public.txt refused"
if nfs-cat "$(url engines private.txt 3 1000)" >out 2>&1; then
	fail "All_Squash without Anonymous_Uid read a 0600 file (the guide says it cannot)"
fi
assert_contains "$(cat out)" "ACCESS" "All_Squash alone, a 0600 file"

# --- a held handle of the Major64 export survives a restart ------------------------------
ganesha_conf "$GUIDE_BLOCK"
nfs_kill "$NFS_PID" 20
ganesha_start
coproc NFS_HOLD { exec python3 "$NFS_HOLD_PY" "$(url av-updates "" 3)"; }
pc_on_exit "nfs_kill $NFS_HOLD_PID 5"
pc_nfs_hold hello || fail "nfs_hold.py did not start: $NFS_HOLD_REPLY"
pc_nfs_hold open /engine.bin || fail "$NFS_HOLD_REPLY"
pc_daemon_stop # av-updates
pc_daemon_start "$PC_TMP/mnt-av-updates" "$PC_TMP/cache-av-updates" \
	-o mirror="file://$PC_TMP/repo-av-updates" -o trusted_key="$PC_TMP/key.pub"
nfs_kill "$NFS_PID" 20
ganesha_start
pc_nfs_hold read /engine.bin held || fail "a held handle after the daemon's restart: $NFS_HOLD_REPLY"
assert_file_same src-av-updates/engine.bin held
echo "ok: the guide's ganesha block exports two repositories"
