# nginx.sh - a real nginx as the mirror, on a loopback port, started and
# stopped by the test.  Source after common.sh.
#
#   pc_nginx_start ROOT [EXTRA_SERVER_CONF]
#       serves ROOT; sets NGINX_PORT, NGINX_URL, NGINX_LOG (access log, one
#       line per request: "METHOD URI STATUS BYTES") and NGINX_PID.
#   pc_nginx_stop      stops the last started nginx (also done at exit)
#   pc_nginx_count REGEX   requests in the access log matching REGEX

# A free TCP port on 127.0.0.1 (the kernel picks; a race with another
# process binding it in between is unlikely and would fail loudly).
pc_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pc_wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
pc_wait_port() {
	local deadline=$((SECONDS + $2))
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "nothing listens on port $1 after $2 s"
		sleep 0.05
	done
}

pc_nginx_start() {
	local root=$1 extra=${2:-} dir
	dir=$(mktemp -d "$PC_TMP/nginx.XXXXXX")
	NGINX_PORT=$(pc_free_port)
	NGINX_URL="http://127.0.0.1:$NGINX_PORT"
	NGINX_LOG="$dir/access.log"
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
user root;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
	log_format pc '\$request_method \$uri \$status \$body_bytes_sent';
	access_log $NGINX_LOG pc;
	sendfile on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$NGINX_PORT;
		root $root;
		$extra
	}
}
CONF
	/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" &
	NGINX_PID=$!
	pc_on_exit "pc_nginx_kill $NGINX_PID"
	pc_wait_port "$NGINX_PORT" 10
}

# Ends one nginx (master and its worker) and waits for it.
pc_nginx_kill() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}

pc_nginx_stop() {
	pc_nginx_kill "$NGINX_PID"
}

pc_nginx_count() {
	grep -cE "$1" "$NGINX_LOG" || true
}
