#!/usr/bin/env python3
"""slow_mirror.py - a mirror whose timing the test decides.

Serves ROOT over HTTP/1.1 (keep-alive, one thread per connection) like a
plain static server, except for the paths a test names:

  --drip REGEX       bodies of matching paths are sent one byte every
                     --drip-interval seconds (a mirror that stalls without
                     closing: curl's low-speed abort is what ends it);
  --hold REGEX       bodies of matching paths stop after --hold-after bytes
                     (or before their last byte)
                     until the file CONTROL/release exists; each held
                     request first creates CONTROL/held.N, so a test can
                     wait for "a download is in flight" as an event that
                     is certain to come, instead of polling for a moment
                     that may pass unseen.  CONTROL/hold, if it exists,
                     holds a regex that replaces --hold (set at run time,
                     once the test knows the path).

The port it listens on (127.0.0.1, chosen by the kernel) is written to
--port-file once it accepts connections.  Stopped by SIGTERM.
"""
import argparse
import http.server
import itertools
import os
import re
import signal
import sys
import threading
import time

HELD = itertools.count(1)
HELD_LOCK = threading.Lock()


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--drip")
    p.add_argument("--drip-interval", type=float, default=2.0)
    p.add_argument("--hold")
    p.add_argument("--hold-after", type=int, default=65536)
    p.add_argument("--control")
    return p.parse_args()


ARGS = parse_args()


def hold_pattern():
    if ARGS.control:
        try:
            with open(os.path.join(ARGS.control, "hold")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            pass
    return ARGS.hold


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test has its own log
        pass

    def do_HEAD(self):
        self.serve(head_only=True)

    def do_GET(self):
        self.serve(head_only=False)

    def serve(self, head_only):
        path = self.path.split("?", 1)[0]
        full = os.path.realpath(os.path.join(ARGS.root, path.lstrip("/")))
        if not full.startswith(os.path.realpath(ARGS.root) + os.sep) or \
                not os.path.isfile(full):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(full, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head_only:
            return
        try:
            if ARGS.drip and re.search(ARGS.drip, path):
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(ARGS.drip_interval)
            elif hold_pattern() and re.search(hold_pattern(), path) and \
                    not os.path.exists(os.path.join(ARGS.control, "release")):
                # At least the last byte is held back: a body sent whole
                # would be a complete download, not one in flight.
                cut = max(0, min(ARGS.hold_after, len(body) - 1))
                self.wfile.write(body[:cut])
                self.wfile.flush()
                with HELD_LOCK:
                    n = next(HELD)
                open(os.path.join(ARGS.control, "held.%d" % n), "w").close()
                while not os.path.exists(os.path.join(ARGS.control,
                                                      "release")):
                    time.sleep(0.05)
                self.wfile.write(body[cut:])
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
