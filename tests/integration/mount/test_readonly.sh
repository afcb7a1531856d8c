#!/usr/bin/env bash
# Every call that would change the tree fails with EROFS.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir -p src/dir
echo hello >src/file
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

out=$(python3 - "$PC_TMP/mnt" <<'PY'
import errno, os, sys
m = sys.argv[1]
calls = {
    "open O_WRONLY": lambda: os.open(f"{m}/file", os.O_WRONLY),
    "open O_RDWR": lambda: os.open(f"{m}/file", os.O_RDWR),
    "open O_TRUNC": lambda: os.open(f"{m}/file", os.O_RDONLY | os.O_TRUNC),
    "create": lambda: os.open(f"{m}/new", os.O_WRONLY | os.O_CREAT, 0o644),
    "unlink": lambda: os.unlink(f"{m}/file"),
    "mkdir": lambda: os.mkdir(f"{m}/newdir"),
    "rmdir": lambda: os.rmdir(f"{m}/dir"),
    "rename": lambda: os.rename(f"{m}/file", f"{m}/file2"),
    "symlink": lambda: os.symlink("file", f"{m}/sl"),
    "link": lambda: os.link(f"{m}/file", f"{m}/hl"),
    "chmod": lambda: os.chmod(f"{m}/file", 0o600),
    "truncate": lambda: os.truncate(f"{m}/file", 0),
    "utime": lambda: os.utime(f"{m}/file", (1, 1)),
    "setxattr": lambda: os.setxattr(f"{m}/file", "user.x", b"1"),
    "removexattr": lambda: os.removexattr(f"{m}/file", "user.peercache.version"),
}
for name, call in calls.items():
    try:
        call()
        print(f"{name}: succeeded")
    except OSError as e:
        print(f"{name}: {errno.errorcode.get(e.errno, e.errno)}")
PY
)
echo "$out"
bad=$(echo "$out" | grep -v ': EROFS$' || true)
assert_eq "" "$bad" "calls that did not fail with EROFS"
assert_eq "hello" "$(cat mnt/file)" "the file is unchanged"
assert_eq "1" "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.peercache.version").decode())' mnt)" "version xattr"
