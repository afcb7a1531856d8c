#!/usr/bin/env python3
"""Starts COMMAND as systemd would after a crash, with fds under the names
peercache stores in the fd store, but not what it stored: what a damaged
or forged fd store would hand over.

    stored_fds.py MODE TARGET -- COMMAND...

MODE says what peercache-fuse and peercache-state are:
  devnull   /dev/null, and a sealed state naming the mount on TARGET
  unsealed  an unmounted /dev/fuse, and a state in a memfd not sealed
  foreign   /dev/fuse of a FUSE mount made here on TARGET (type
            fuse.peercache, a live connection nobody serves), and a
            sealed state naming it, from another cache (generation 1)
The state is otherwise well formed (format 1, a whole INIT exchange).
COMMAND gets them as fds 3 and 4 with LISTEN_FDS, LISTEN_PID and
LISTEN_FDNAMES, in this very process (exec).
"""
import ctypes
import fcntl
import os
import struct
import sys

FUSE_INIT = 26
FUSE_INIT_EXT = 1 << 30


def device_of(target):
    """MAJOR, MINOR of the topmost mount on TARGET (mountinfo)."""
    found = None
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            if fields[4] == target:
                found = tuple(int(x) for x in fields[2].split(":"))
    if not found:
        sys.exit("stored_fds.py: nothing mounted on %s" % target)
    return found


def fuse_mount(target):
    """A /dev/fuse fd mounted on TARGET: a connection nobody answers."""
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
    if libc.mount(b"peercache", target.encode(), b"fuse.peercache",
                  1 | 2 | 4, opts.encode()) != 0:  # RDONLY, NOSUID, NODEV
        sys.exit("stored_fds.py: mount: %s" % os.strerror(ctypes.get_errno()))
    return fd


def state_bytes(target, generation):
    major, minor = device_of(target)
    req = struct.pack("<IIQQIIII", 40 + 64, FUSE_INIT, 2, 0, 0, 0, 0, 0)
    req += struct.pack("<IIII", 7, 38, 131072, FUSE_INIT_EXT) + bytes(48)
    reply = struct.pack("<IiQ", 16 + 64, 0, 2) + struct.pack("<II", 7, 38)
    reply += bytes(56)
    path = target.encode()
    header = b"pcstate\0" + struct.pack("<8I", 1, generation, major, minor,
                                        len(req), len(reply), len(path), 0)
    return header + req + reply + path


def memfd(data, sealed):
    fd = os.memfd_create("peercache-state", os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    if sealed:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK |
                    fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE |
                    fcntl.F_SEAL_SEAL)
    return fd


def main():
    mode, target = sys.argv[1:3]
    command = sys.argv[sys.argv.index("--") + 1:]
    if mode == "devnull":
        fuse = os.open("/dev/null", os.O_RDWR)
        state = memfd(state_bytes(target, 1), True)
    elif mode == "unsealed":
        fuse = os.open("/dev/fuse", os.O_RDWR)
        state = memfd(state_bytes(target, 1), False)
    elif mode == "foreign":
        fuse = fuse_mount(target)
        state = memfd(state_bytes(target, 1), True)
    else:
        sys.exit("stored_fds.py: unknown mode %s" % mode)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (fuse, state)]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
    os.closerange(5, 4096)
    env = dict(os.environ, LISTEN_FDS="2", LISTEN_PID=str(os.getpid()),
               LISTEN_FDNAMES="peercache-fuse:peercache-state")
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
