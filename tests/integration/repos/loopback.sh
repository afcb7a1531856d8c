# loopback.sh - shared by the repos/ tests that run one daemon with the
# two repositories av-defs and engine against nginx on loopback, without
# the LAN of fixture.sh.  Source after mount/fixture.sh and pc_setup.
#
#   AV, ENGINE                 the two mount points (under $PC_TMP/srv)
#   pc_two_repos_conf FILE DIR writes the daemon's configuration: av-defs
#       from $NGINX_URL/av, engine from $NGINX_URL/DIR, each with its key
#       ($PC_TMP/av.key.pub, $PC_TMP/engine.key.pub); no peers
#
# The repositories are published with pc_publish_as (lib/repo.sh).

AV="$PC_TMP/srv/av-defs"
ENGINE="$PC_TMP/srv/engine"

pc_two_repos_conf() {
	cat >"$1" <<CONF
[peercache]
cache_dir = $PC_TMP/cache
poll_interval = 1h
fetch_timeout = 5s
discovery = off
peer_server = off

[repository av-defs]
mount_point = $AV
mirror = $NGINX_URL/av
trusted_key = $PC_TMP/av.key.pub

[repository engine]
mount_point = $ENGINE
mirror = $NGINX_URL/$2
trusted_key = $PC_TMP/engine.key.pub
CONF
}
