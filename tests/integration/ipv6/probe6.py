#!/usr/bin/env python3
"""probe6.py ADDR PORT HEX... - one discovery probe (docs/PROTOCOL.md, no
fleet key) for the ids to ADDR:PORT over IPv6 (or IPv4), and what came
back within a second: "answers=N have=BITS" (BITS: one 0/1 per id, of the
first answer; empty without one).  For tests where pc-peer-tool (IPv4)
cannot go."""
import os
import socket
import struct
import sys
import time


def main():
    addr, port, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if not 1 <= len(ids) <= 64:
        sys.exit("1 to 64 ids")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    txid = struct.unpack("!I", os.urandom(4))[0]
    # magic, version 1, PROBE, no flags, count, txid, http_port 0, zero
    packet = b"PCDS" + struct.pack("!BBBBIHH", 1, 1, 0, len(ids), txid, 0, 0)
    packet += b"".join(bytes.fromhex(h) for h in ids)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.sendto(packet, (addr, port))
    deadline = time.monotonic() + 1.0
    answers, have = 0, ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(4096)
        except socket.timeout:
            break
        if len(data) < 16 or data[:4] != b"PCDS" or data[5] != 2:
            continue
        if struct.unpack("!I", data[8:12])[0] != txid:
            continue
        answers += 1
        if answers == 1:
            bits = "".join(f"{b:08b}" for b in data[16:16 + (len(ids) + 7) // 8])
            have = bits[:len(ids)]
    print(f"answers={answers} have={have}")


if __name__ == "__main__":
    main()
