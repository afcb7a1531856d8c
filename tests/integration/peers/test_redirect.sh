#!/usr/bin/env bash
# A peer's redirect is its answer, never followed: a fake peer that claims
# every chunk answers every request (GET /p2p/..., GET /head) with
# "302 Location: http://127.0.0.1:9999/...", the node's own loopback,
# where a listener counts what arrives.  The node reads the right bytes
# from the mirror, sends nothing to its loopback (neither for chunks nor,
# the mirror stopped, when it asks its neighbours for a head), and stops
# believing the redirecting peer.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/a.bin 8M
pc_random src/b.bin 8M
peers_serve src
pc_node_start 1

# The listener on node 1's loopback (a fake peer's HTTP side: it logs
# every request it gets).
pc_ns_spawn n1 "$PEER_TOOL" fake-peer --bind 127.0.0.1 --udp-port 9998 \
	--http-port 9999 --max-seconds 60 >loopback.out 2>loopback.log
pc_ns_add fake 198.18.0.66/24
pc_ns_spawn fake "$PEER_TOOL" fake-peer --serve redirect \
	--redirect http://127.0.0.1:9999 --max-seconds 60 \
	>fake.out 2>fake.log
for f in loopback fake; do
	for _ in $(seq 100); do
		grep -qs ready $f.out && break
		sleep 0.1
	done
	grep -qs ready $f.out || fail "the $f fake peer did not start: $(cat $f.log)"
done

peers_read 1 a.bin "$(pc_sha src/a.bin)"
redirects=$(grep -c ': 302$' fake.log || true)
# A node that has heard nobody yet does not wait for answers (an empty
# subnet, presumed after one silent probe): if the read-ahead had sent
# every probe of a.bin before the fake peer's first answer came back, the
# node asked it nothing.  Once the node has heard it, a second file's
# probes wait for its answers.
if [ "$redirects" -eq 0 ]; then
	heard_by=$((SECONDS + 5))
	until [ $(($(pc_node_stat 1 discovery_answers_received) +
		$(pc_node_stat 1 discovery_answers_late))) -ge 1 ]; do
		[ $SECONDS -lt $heard_by ] ||
			fail "node 1 never heard the fake peer's answers"
		sleep 0.2
	done
	peers_read 1 b.bin "$(pc_sha src/b.bin)"
	redirects=$(grep -c ': 302$' fake.log || true)
fi
echo "the fake peer sent $redirects redirects"
[ "$redirects" -ge 1 ] || fail "the node asked the fake peer nothing: the test tested nothing"
assert_eq 0 "$(grep -cE 'fake-peer: (GET|HEAD) ' loopback.log || true)" \
	"requests that reached node 1's loopback"
peers_wait_log 1 'peer 198.18.0.66: answered HTTP 302 .*not waiting for it' 2

# Heads: with the mirror down, a poll asks the neighbours for theirs
# (here a second redirecting fake peer, which has the node's manifest).
pc_ns_add fake2 198.18.0.67/24
pc_ns_spawn fake2 "$PEER_TOOL" fake-peer --serve redirect \
	--redirect http://127.0.0.1:9999 --max-seconds 60 \
	>fake2.out 2>fake2.log
for _ in $(seq 100); do
	grep -qs ready fake2.out && break
	sleep 0.1
done
pc_mirror_stop
pc_node_ctl 1 refresh >refresh.out 2>&1 || true
heads=$(grep -c 'GET /head from' fake2.log || true)
echo "the second fake peer was asked for its head $heads times"
[ "$heads" -ge 1 ] || fail "nobody was asked for a head: the test tested nothing ($(cat refresh.out))"
assert_eq 0 "$(grep -cE 'fake-peer: (GET|HEAD) ' loopback.log || true)" \
	"requests that reached node 1's loopback after the head poll"
