#!/usr/bin/env python3
"""A reader that holds one file open and reads it whole, again and again,
until DIR/stop exists, checking every block against the source file.

    restart_reader.py FILE SOURCE DIR

The file is open with O_DIRECT: every read is a request to the daemon,
and its error is the reader's (buffered reads would hide one: the kernel
reads a page again when its read-ahead failed).  It writes DIR/started
once the file is open and its first read is under way, and DIR/passes
after each whole pass.  Any error (EIO, ENOTCONN, a short or wrong read)
ends it with status 1 and says what; at the end it prints the bytes read,
the passes and the longest single read.
"""
import mmap
import os
import sys
import time

BLOCK = 1 << 20


def main():
    path, source, state = sys.argv[1:4]
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT wants
    with open(source, "rb") as f:
        expected = f.read()
    longest = 0.0
    total = passes = offset = 0
    stop = os.path.join(state, "stop")
    open(os.path.join(state, "started"), "w").close()
    while not os.path.exists(stop):
        began = time.monotonic()
        try:
            data = buf[:os.preadv(fd, [buf], offset)]
        except OSError as e:
            print("pass %d, offset %d: %s" % (passes + 1, offset, e))
            return 1
        longest = max(longest, time.monotonic() - began)
        if data != expected[offset:offset + BLOCK]:
            print("pass %d, offset %d: wrong bytes (%d read)" %
                  (passes + 1, offset, len(data)))
            return 1
        total += len(data)
        offset += len(data)
        if offset == len(expected):
            offset = 0
            passes += 1
            with open(os.path.join(state, "passes"), "w") as out:
                out.write("%d\n" % passes)
    print("%d MiB read right, %d whole passes, longest read %.0f ms" %
          (total >> 20, passes, longest * 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
