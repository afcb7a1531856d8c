#!/usr/bin/env python3
"""Holds files and directories of the mount open, and reads them again,
through the same descriptors, whenever the test asks.

    hold_open.py STATE_DIR FILE=SOURCE... DIR=NAME,NAME,...

It opens each FILE (O_DIRECT: every read of a file the daemon serves
through the page cache is a request to it; HOLD_BUFFERED=1 in the
environment opens them without O_DIRECT) and each DIR (O_DIRECTORY), writes STATE_DIR/ready,
then for each STATE_DIR/check.N that appears reads every FILE whole from
its descriptor (pread from 0) and compares it with SOURCE, lists every
DIR from its descriptor (from its start) and compares the names, and
writes STATE_DIR/result.N: "ok", or what failed.  It ends when
STATE_DIR/stop exists (or after ten minutes).
"""
import mmap
import os
import sys
import time


def check(files, dirs):
    for fd, path, source in files:
        with open(source, "rb") as f:
            want = f.read()
        buf = mmap.mmap(-1, (len(want) // 4096 + 1) * 4096)  # aligned
        try:
            n = os.preadv(fd, [buf], 0)
        except OSError as e:
            return "%s: %s" % (path, e.strerror)
        got = buf[:n]
        if got != want:
            return "%s: %d bytes, not the %d of %s" % (path, len(got),
                                                       len(want), source)
    for fd, path, names in dirs:
        try:
            got = sorted(os.listdir(fd))
        except OSError as e:
            return "%s: %s" % (path, e.strerror)
        if got != names:
            return "%s lists %s, not %s" % (path, got, names)
    return "ok"


def main():
    state = sys.argv[1]
    files, dirs = [], []
    for arg in sys.argv[2:]:
        path, what = arg.split("=", 1)
        if os.path.isdir(path):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            dirs.append((fd, path, sorted(what.split(","))))
        else:
            flags = os.O_RDONLY
            if os.environ.get("HOLD_BUFFERED") != "1":
                flags |= os.O_DIRECT
            files.append((os.open(path, flags), path, what))
    open(os.path.join(state, "ready"), "w").close()
    n = 1
    deadline = time.time() + 600
    while time.time() < deadline:
        if os.path.exists(os.path.join(state, "stop")):
            return 0
        if os.path.exists(os.path.join(state, "check.%d" % n)):
            result = check(files, dirs)
            tmp = os.path.join(state, "result.tmp")
            with open(tmp, "w") as out:
                out.write(result + "\n")
            os.rename(tmp, os.path.join(state, "result.%d" % n))
            n += 1
        time.sleep(0.02)
    return 1


if __name__ == "__main__":
    sys.exit(main())
