#!/usr/bin/env bash
# peercachectl check: every mirror step by step (resolve, connect, TLS,
# HTTP, the head's signature), with the daemon's configuration or a file;
# a reachable mirror passes, an unreachable one fails at connect, an
# https mirror whose self-signed certificate is not in ca_file fails at
# TLS, one whose certificate the CA signed passes, a head signed by
# another key fails at the head; a proxy is checked on its own; the
# daemon's discovery round reports the neighbour that has the manifest;
# the exit status tells all good (0), some failed (5), none usable (6).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

CTL="$PC_BIN/peercachectl"

# step JSON KIND NAME STEP: the state of one step of a check --json report.
step() {
	python3 - "$@" <<'PY'
import json, sys
report, kind, name, step = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
for t in report["targets"]:
    if t["kind"] == kind and t["name"] == name:
        for s in t["steps"]:
            if s["step"] == step:
                print(s["state"], s["detail"])
                sys.exit(0)
print("missing")
PY
}

mkdir src tls
pc_random src/a.bin 1M
pc_publish src repo

# A CA and a certificate for 127.0.0.1 it signed; a self-signed one.
openssl_quiet() { openssl "$@" >/dev/null 2>&1 || fail "openssl $*"; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl_quiet req -x509 "${ec[@]}" -keyout tls/ca.key -out tls/ca.pem \
	-days 2 -subj "/CN=ops check test CA"
openssl_quiet req "${ec[@]}" -keyout tls/good.key -out tls/good.csr -subj /CN=127.0.0.1
echo "subjectAltName=IP:127.0.0.1" >tls/ext.cnf
openssl_quiet x509 -req -in tls/good.csr -CA tls/ca.pem -CAkey tls/ca.key \
	-CAcreateserial -out tls/good.pem -days 2 -extfile tls/ext.cnf
openssl_quiet req -x509 "${ec[@]}" -keyout tls/self.key -out tls/self.pem \
	-days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1"

good_tls=$(pc_free_port)
pc_nginx_start "$PC_TMP/repo" "listen 127.0.0.1:$good_tls ssl;
	ssl_certificate $PC_TMP/tls/good.pem; ssl_certificate_key $PC_TMP/tls/good.key;"
pc_wait_port "$good_tls" 10
HTTP_URL=$NGINX_URL
GOOD_URL="https://127.0.0.1:$good_tls"
self_tls=$(pc_free_port)
pc_nginx_start "$PC_TMP/repo" "listen 127.0.0.1:$self_tls ssl;
	ssl_certificate $PC_TMP/tls/self.pem; ssl_certificate_key $PC_TMP/tls/self.key;"
pc_wait_port "$self_tls" 10
SELF_URL="https://127.0.0.1:$self_tls"
DEAD_URL="http://127.0.0.1:$(pc_free_port)" # nothing listens there

# ---- with the daemon's configuration --------------------------------------------
# Node A: the reachable mirror first, then the dead one and the bad TLS.
disc_a=$(pc_free_port) disc_b=$(pc_free_port)
peer_a=$(pc_free_port) peer_b=$(pc_free_port)
lan_opts=(-o discovery=on -o peer_server=on -o peer_allow=127.0.0.0/8)
pc_daemon_start "$PC_TMP/mnt-b" "$PC_TMP/cache-b" -o mirror="$HTTP_URL" \
	-o trusted_key="$PC_TMP/key.pub" "${lan_opts[@]}" \
	-o discovery_port="$disc_b" -o peer_port="$peer_b" \
	-o peers="127.0.0.1:$disc_a"
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$HTTP_URL" \
	-o mirror="$DEAD_URL" -o mirror="$SELF_URL" -o mirror="$GOOD_URL" \
	-o ca_file="$PC_TMP/tls/ca.pem" -o trusted_key="$PC_TMP/key.pub" \
	"${lan_opts[@]}" -o discovery_port="$disc_a" -o peer_port="$peer_a" \
	-o peers="127.0.0.1:$disc_b"
assert_file_same src/a.bin mnt/a.bin
assert_file_same src/a.bin mnt-b/a.bin

expect_status 5 "mirror $HTTP_URL" "check: some mirrors fail" pc_ctl check
assert_contains "$PC_OUT" "checking the daemon's configuration" "check: where the sources came from"
assert_contains "$PC_OUT" "head     ok      version 1 of 'test', signed by a trusted key" "check: good head"
assert_contains "$PC_OUT" "connect  FAILED" "check: the dead mirror"
assert_contains "$PC_OUT" "tls      FAILED" "check: the self-signed certificate"
assert_contains "$PC_OUT" "2 mirrors serve a valid head" "check: summary"

pc_run pc_ctl check --json
assert_eq 5 "$PC_RC" "check --json exit status"
json=$PC_OUT
assert_eq problems "$(pc_json_get "$json" result)" "check --json result"
assert_eq 2 "$(pc_json_get "$json" mirrors_ok)" "check --json mirrors_ok"
assert_eq 2 "$(pc_json_get "$json" failed_steps)" "check --json failed_steps (connect, tls)"
for s in resolve connect http head; do
	assert_contains "$(step "$json" mirror "$HTTP_URL" $s)" "ok" "http mirror: $s"
done
assert_contains "$(step "$json" mirror "$HTTP_URL" tls)" "- not https" "http mirror: no TLS"
assert_contains "$(step "$json" mirror "$DEAD_URL" resolve)" "ok" "dead mirror: resolve"
assert_contains "$(step "$json" mirror "$DEAD_URL" connect)" "failed" "dead mirror: connect"
assert_contains "$(step "$json" mirror "$DEAD_URL" http)" "skipped" "dead mirror: http"
assert_contains "$(step "$json" mirror "$SELF_URL" connect)" "ok" "self-signed: connect"
assert_contains "$(step "$json" mirror "$SELF_URL" tls)" "failed" "self-signed: tls"
assert_contains "$(step "$json" mirror "$SELF_URL" head)" "skipped" "self-signed: head"
assert_contains "$(step "$json" mirror "$GOOD_URL" tls)" "ok certificate verified" "CA-signed: tls"
assert_contains "$(step "$json" mirror "$GOOD_URL" head)" "ok version 1" "CA-signed: head"
# The discovery round: node B has the manifest and says so.
round=$(step "$json" discovery "(LAN peers)" round)
assert_contains "$round" "ok" "discovery round"
assert_contains "$round" "have it: 127.0.0.1:$peer_b" "discovery round: node B answered"

# Node B: its one mirror is fine: exit 0.
expect_status 0 "0 steps failed" "check: all good" \
	"$CTL" --cache-dir "$PC_TMP/cache-b" check
assert_contains "$PC_OUT" "have it: 127.0.0.1:$peer_a" "node B's round hears node A"

# ---- with a configuration file (-c, -o), daemon or not ----------------------------
pc_keygen "$PC_TMP/other"
cat >check.conf <<CONF
[peercache]
mirror = $DEAD_URL
mirror = $SELF_URL
trusted_key = $PC_TMP/key.pub
CONF
expect_status 6 "checking check.conf" "check -c: no usable mirror" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c check.conf check
assert_contains "$PC_OUT" "0 mirrors serve a valid head" "check -c: summary"
assert_contains "$PC_OUT" "the daemon does not answer" "check -c without a daemon: no round"
pc_run "$CTL" --cache-dir "$PC_TMP/ops-check-none" -c check.conf check --json
assert_eq 6 "$PC_RC" "check -c --json exit status"
assert_eq no_mirror "$(pc_json_get "$PC_OUT" result)" "check -c --json result"

# A name that does not resolve (.invalid never does; curl's resolver is
# bounded by connect_timeout).
expect_status 6 "resolve  FAILED" "check: name resolution" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c /dev/null \
	-o mirror=http://ops-check.invalid/repo -o trusted_key="$PC_TMP/key.pub" \
	-o connect_timeout=3 check
assert_contains "$PC_OUT" "connect  skipped" "check: nothing after a failed resolve"

# A head signed by a key the configuration does not trust.
expect_status 6 "head     FAILED" "check: untrusted key" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c /dev/null \
	-o mirror="$HTTP_URL" -o trusted_key="$PC_TMP/other.pub" check
assert_contains "$PC_OUT" "untrusted key" "check: untrusted key named"
# The wrong repository.
expect_status 6 "for repository 'test', not 'other'" "check: repository" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c /dev/null \
	-o mirror="$HTTP_URL" -o trusted_key="$PC_TMP/key.pub" -o repository=other check

# A proxy that is down: its own target fails at connect, and so does
# every mirror behind it.
expect_status 6 "proxy http://127.0.0.1:" "check: dead proxy" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c /dev/null \
	-o mirror="$HTTP_URL" -o trusted_key="$PC_TMP/key.pub" \
	-o proxy="${DEAD_URL}" check
assert_contains "$PC_OUT" "connect  FAILED" "check: the proxy's connect"

# A configuration that names no mirror.
expect_status 1 "no mirror to check" "check: nothing to check" \
	"$CTL" --cache-dir "$PC_TMP/ops-check-none" -c /dev/null check
