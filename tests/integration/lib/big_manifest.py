#!/usr/bin/env python3
"""big_manifest.py - a valid manifest of N entries, fast, for memory tests.

    big_manifest.py N OUT

Writes the canonical bytes (docs/FORMAT.md, "Manifest") of a tree of
N entries: directories d0000, d0001, ... each holding up to 999 files of
100 bytes in one chunk each (the chunk ids are made up: installing a
version does not need its chunks, only reading a file does).  Prints the
manifest's SHA-256 and size.  Publishing a million real files would take
minutes; the node's parser checks every byte of this one all the same.
"""
import hashlib
import sys


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    per_dir = 999
    lines = []
    count = 0
    d = 0
    while count < n:
        name = "d%04d" % d
        lines.append("D 755 1700000000 %s\n" % name)
        count += 1
        f = 0
        while f < per_dir and count < n:
            chunk = hashlib.sha256(b"%d/%d" % (d, f)).hexdigest()
            lines.append("F 644 1700000000 100 1 %s/f%03d\n%s 100\n"
                         % (name, f, chunk))
            count += 1
            f += 1
        d += 1
    body = "".join(lines).encode()
    head = ("peercache-manifest 1\nroot 755 1700000000\nentries %d\n"
            % n).encode()
    data = head + body
    with open(out, "wb") as f:
        f.write(data)
    print(hashlib.sha256(data).hexdigest(), len(data))


if __name__ == "__main__":
    main()
