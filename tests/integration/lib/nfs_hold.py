#!/usr/bin/env python3
"""nfs_hold.py - one NFS client session that keeps its file handles.

    nfs_hold.py nfs://SERVER/EXPORT?version=3&nfsport=N&mountport=M

Mounts the export with libnfs (the library behind nfs-ls and nfs-cat, through
ctypes) and then answers one line per command read from stdin:

    hello              "OK" once the export is mounted
    open PATH          look PATH up and keep its file handle
    read PATH OUT      read the whole file through the handle kept for PATH
                       (no new lookup) into OUT

Answers start with "OK" or "ERR".  The point is what nfs-cat cannot show: an
NFS client that looked a file up before the server side restarted keeps
reading it with the same file handle afterwards.
"""
import ctypes
import ctypes.util
import sys


class NfsUrl(ctypes.Structure):
    _fields_ = [("server", ctypes.c_char_p), ("path", ctypes.c_char_p),
                ("file", ctypes.c_char_p)]


def load_libnfs():
    name = ctypes.util.find_library("nfs") or "libnfs.so.13"
    lib = ctypes.CDLL(name)
    # libnfs 5 (soname 14) reordered pread to (nfs, fh, buf, count, offset).
    new_pread = not name.endswith(".13")
    lib.nfs_init_context.restype = ctypes.c_void_p
    lib.nfs_get_error.restype = ctypes.c_char_p
    lib.nfs_get_error.argtypes = [ctypes.c_void_p]
    lib.nfs_parse_url_dir.restype = ctypes.POINTER(NfsUrl)
    lib.nfs_parse_url_dir.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                              ctypes.c_char_p]
    lib.nfs_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.POINTER(ctypes.c_void_p)]
    if new_pread:
        lib.nfs_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_uint64]
    else:
        lib.nfs_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_uint64, ctypes.c_uint64,
                                  ctypes.c_void_p]
    return lib, new_pread


class Session:
    def __init__(self, url):
        self.lib, self.new_pread = load_libnfs()
        self.ctx = self.lib.nfs_init_context()
        self.handles = {}
        self.mount_error = None
        parsed = self.lib.nfs_parse_url_dir(self.ctx, url.encode())
        if not parsed:
            self.mount_error = "bad URL: " + self.error()
        elif self.lib.nfs_mount(self.ctx, parsed.contents.server,
                                parsed.contents.path) != 0:
            self.mount_error = "mount: " + self.error()

    def error(self):
        text = self.lib.nfs_get_error(self.ctx)
        return text.decode(errors="replace") if text else "?"

    def pread(self, handle, offset, buf):
        if self.new_pread:
            return self.lib.nfs_pread(self.ctx, handle, buf, len(buf), offset)
        return self.lib.nfs_pread(self.ctx, handle, offset, len(buf), buf)

    def hello(self):
        return "ERR " + self.mount_error if self.mount_error else "OK"

    def open(self, path):
        if self.mount_error:
            return self.hello()
        handle = ctypes.c_void_p()
        status = self.lib.nfs_open(self.ctx, path.encode(), 0,
                                   ctypes.byref(handle))
        if status != 0:
            return "ERR open %s: %d %s" % (path, status, self.error())
        self.handles[path] = handle
        return "OK"

    def read(self, path, out_path):
        if path not in self.handles:
            return "ERR read %s: not opened" % path
        buf = ctypes.create_string_buffer(1 << 20)
        offset = 0
        with open(out_path, "wb") as out:
            while True:
                count = self.pread(self.handles[path], offset, buf)
                if count < 0:
                    return "ERR read %s at %d: %d %s" % (
                        path, offset, count, self.error())
                if count == 0:
                    return "OK %d" % offset
                out.write(buf.raw[:count])
                offset += count


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    session = Session(sys.argv[1])
    commands = {"hello": session.hello, "open": session.open,
                "read": session.read}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command = commands.get(words[0])
        try:
            reply = command(*words[1:]) if command else "ERR unknown command"
        except (TypeError, OSError) as error:
            reply = "ERR %s" % error
        print(reply, flush=True)


if __name__ == "__main__":
    main()
