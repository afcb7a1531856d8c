#!/usr/bin/env bash
# proxy=: every request to the mirror (head and chunks) goes through the
# configured HTTP proxy, and the content read through the mount is right.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/file.bin 3M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

# A minimal forwarding proxy for plain-HTTP GETs; logs each URL it fetches.
proxy_port=$(pc_free_port)
python3 - "$proxy_port" "$PC_TMP/proxy.log" <<'PY' &
import http.server, shutil, sys, urllib.request
log = open(sys.argv[2], "a", buffering=1)
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(self.path + "\n")
        try:
            with urllib.request.urlopen(self.path, timeout=10) as r:
                self.send_response(r.status)
                self.send_header("Content-Length", r.headers["Content-Length"])
                self.end_headers()
                shutil.copyfileobj(r, self.wfile)
        except urllib.error.HTTPError as e:
            self.send_response(e.code)
            self.send_header("Content-Length", "0")
            self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Proxy).serve_forever()
PY
pc_on_exit "kill $! 2>/dev/null"
pc_wait_port "$proxy_port" 10

pc_mount_repo -o proxy="http://127.0.0.1:$proxy_port"
assert_file_same src/file.bin mnt/file.bin
assert_contains "$(cat proxy.log)" "$NGINX_URL/head" "head fetched through the proxy"
chunks=$(manifest_file_chunks "$(manifest_path repo)" file.bin)
for c in $chunks; do
	assert_contains "$(cat proxy.log)" "/chunks/${c:0:2}/$c" "chunk $c through the proxy"
done
