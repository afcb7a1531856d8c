# nfs.sh - a real NFS server (nfs-ganesha, FSAL VFS) exporting a directory
# (the peercache mount), and a real NFS client (libnfs: nfs-ls, nfs-cat, and
# nfs_hold.py, which keeps file handles open).  Source after common.sh and
# nginx.sh.
#
# ganesha must register with rpcbind, and it writes below /run.  So that
# neither touches the host, the test runs in its own network and mount
# namespaces: its first statement, before pc_setup, is pc_nfs_isolate,
# which re-executes the script (same pid) under `unshare --mount --net`.
# Everything the test starts (nginx, peercache, rpcbind, ganesha, the
# clients) lives there: loopback only, a tmpfs on /run, and mounts that
# nobody outside sees.  The namespaces die with the test.
#
#   pc_nfs_isolate "$@"     re-exec in private namespaces (before pc_setup)
#   pc_nfs_start DIR        export DIR read-only over NFSv3 and v4 as
#                           /peercache; sets NFS_PORT, NFS_LOG, NFS_PID
#   pc_nfs_url VERS PATH    nfs://... URL of /peercache/PATH over NFSv VERS
#   pc_nfs_ls VERS          "MODE SIZE PATH" of every entry (directories
#                           without size), sorted
#   pc_nfs_cat VERS PATH OUT   nfs-cat into OUT (fails the test on error)
#   pc_nfs_reload           drop the export and add it again (SIGHUP with a
#                           config without, then with it): ganesha opens
#                           the export's root afresh
#   pc_nfs_restart          stop ganesha and start it again (same ports)
#   pc_nfs_hold_start VERS  start nfs_hold.py, one NFS client session that
#                           keeps its file handles; pc_nfs_hold open PATH,
#                           pc_nfs_hold read PATH OUT (status 0 on "OK",
#                           the answer in $NFS_HOLD_REPLY)
#
# File handles: FSAL VFS puts the filesystem id in every handle.  FUSE
# reports f_fsid 0, so ganesha falls back to the mount's anonymous device
# number, which a new mount (a restarted daemon) does not keep.  With
# fsid_type = Major64 the handle carries only the (constant) major part and
# the kernel's FUSE handle (inode number and generation, which peercache
# keeps across restarts), so a client's handles survive a daemon restart
# once ganesha has the new mount (pc_nfs_reload or pc_nfs_restart).

NFS_HOLD_PY="$PC_SRC/tests/integration/lib/nfs_hold.py"

pc_nfs_isolate() {
	if [ "${PC_NFS_ISOLATED:-}" != 1 ]; then
		export PC_NFS_ISOLATED=1
		exec unshare --mount --net --propagation private -- \
			bash "$0" "$@"
	fi
	ip link set lo up
}

# The config; $1 = 1 with the export, 0 without (pc_nfs_reload).
nfs_write_config() {
	local with_export=$1
	cat >"$NFS_DIR/ganesha.conf" <<CONF
NFS_CORE_PARAM {
	NFS_Port = $NFS_PORT;
	MNT_Port = $NFS_MNT_PORT;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	Protocols = 3, 4;
	mount_path_pseudo = true;
}
NFSV4 {
	RecoveryBackend = fs;
	RecoveryRoot = $NFS_DIR/recovery;
	Graceless = true;
}
LOG { Default_Log_Level = EVENT; Components { FSAL = INFO; } }
CONF
	[ "$with_export" = 1 ] || return 0
	cat >>"$NFS_DIR/ganesha.conf" <<CONF
EXPORT {
	Export_Id = 77;
	Path = $NFS_EXPORT_DIR;
	Pseudo = /peercache;
	Access_Type = RO;
	Squash = All_Squash;
	Protocols = 3, 4;
	Transports = TCP;
	Sectype = sys;
	FSAL { Name = VFS; fsid_type = Major64; }
}
CONF
}

pc_nfs_start() {
	NFS_EXPORT_DIR=$1
	NFS_DIR="$PC_TMP/ops-nfs"
	mkdir -p "$NFS_DIR/recovery"
	[ "${PC_NFS_ISOLATED:-}" = 1 ] ||
		fail "call pc_nfs_isolate first (ganesha needs private namespaces)"
	mount -t tmpfs ops-nfs-run /run
	pc_on_exit "umount -l /run"
	mkdir -p /run/rpcbind
	rpcbind -f -w >"$NFS_DIR/rpcbind.log" 2>&1 &
	NFS_RPCBIND_PID=$!
	pc_on_exit "nfs_kill $NFS_RPCBIND_PID 5"
	nfs_wait_for "test -S /run/rpcbind.sock" 10 "rpcbind did not start"
	NFS_PORT=$(pc_free_port)
	NFS_MNT_PORT=$(pc_free_port)
	NFS_LOG="$NFS_DIR/ganesha.log"
	nfs_write_config 1
	nfs_ganesha_start
}

nfs_ganesha_start() {
	ganesha.nfsd -F -f "$NFS_DIR/ganesha.conf" -L "$NFS_LOG" \
		-p "$NFS_DIR/ganesha.pid" -N NIV_EVENT >>"$NFS_DIR/ganesha.out" 2>&1 &
	NFS_PID=$!
	pc_on_exit "nfs_kill $NFS_PID 20"
	nfs_wait_for "nfs_ls_quiet" 30 "ganesha does not answer on port $NFS_PORT"
}

# nfs_wait_for COMMAND SECONDS MESSAGE: until COMMAND succeeds; the test
# fails with MESSAGE (and ganesha's log) after SECONDS or if ganesha died.
nfs_wait_for() {
	local deadline=$((SECONDS + $2))
	until eval "$1"; do
		if [ -n "${NFS_PID:-}" ] && ! kill -0 "$NFS_PID" 2>/dev/null; then
			fail "ganesha exited; log:
$(tail -30 "$NFS_LOG" 2>/dev/null)"
		fi
		[ $SECONDS -lt $deadline ] || fail "$3; log (without its
'svc_vc_wait ... will set dead' lines, one per client that gave up):
$(grep -v 'svc_vc_wait.*will set dead' "$NFS_LOG" 2>/dev/null | tail -40)
nfs-ls says: $(timeout 10 nfs-ls "$(pc_nfs_url 3 '')" 2>&1 | tail -5)
the daemon's log: $(tail -20 "${PC_DAEMON_LOG:-/dev/null}" 2>/dev/null)"
		sleep 0.1
	done
}

nfs_ls_quiet() {
	nfs-ls "$(pc_nfs_url 3 '')" >/dev/null 2>&1
}

# nfs_kill PID SECONDS: SIGTERM, then SIGKILL after SECONDS.
nfs_kill() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

pc_nfs_url() {
	local vers=$1 path=$2 ports="nfsport=$NFS_PORT"
	[ "$vers" = 4 ] || ports="$ports&mountport=$NFS_MNT_PORT"
	echo "nfs://127.0.0.1/peercache${path:+/$path}?version=$vers&$ports"
}

# nfs-ls -R prints "MODE NLINK UID GID SIZE PATH".  A directory's size
# and link count belong to the filesystem, and the owner is squashed.
pc_nfs_ls() {
	local out
	out=$(nfs-ls -R "$(pc_nfs_url "$1" '')" 2>&1) ||
		fail "nfs-ls over NFSv$1 failed: $out"
	awk '{ path = $6; for (i = 7; i <= NF; i++) path = path " " $i
	       if ($1 ~ /^d/) print $1, path; else print $1, $5, path }' \
		<<<"$out" | sort
}

pc_nfs_cat() {
	nfs-cat "$(pc_nfs_url "$1" "$2")" >"$3" 2>"$3.err" ||
		fail "nfs-cat $2 over NFSv$1 failed: $(cat "$3.err")"
}

# The count of "Reread exports complete" lines, to wait for a SIGHUP.
nfs_reloads() {
	grep -c 'Reread exports complete' "$NFS_LOG" || true
}

pc_nfs_reload() {
	local with before
	for with in 0 1; do
		before=$(nfs_reloads)
		nfs_write_config $with
		kill -HUP "$NFS_PID"
		nfs_wait_for '[ "$(nfs_reloads)" -gt '"$before"' ]' 20 \
			"ganesha did not reload its exports"
	done
}

pc_nfs_restart() {
	nfs_kill "$NFS_PID" 20
	nfs_ganesha_start
}

pc_nfs_hold_start() {
	coproc NFS_HOLD { exec python3 "$NFS_HOLD_PY" "$(pc_nfs_url "$1" '')"; }
	pc_on_exit "nfs_kill $NFS_HOLD_PID 5"
	pc_nfs_hold hello || fail "nfs_hold.py did not start: $NFS_HOLD_REPLY"
}

# pc_nfs_hold COMMAND ARGS...: one request to nfs_hold.py, one answer line
# (60 s at most).
pc_nfs_hold() {
	NFS_HOLD_REPLY=""
	echo "$*" >&"${NFS_HOLD[1]}" ||
		fail "nfs_hold.py is gone (asked: $*)"
	read -t 60 -r NFS_HOLD_REPLY <&"${NFS_HOLD[0]}" ||
		fail "no answer from nfs_hold.py to: $*"
	[ "${NFS_HOLD_REPLY%% *}" = OK ]
}
