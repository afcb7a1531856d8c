#!/usr/bin/env bash
# `peercache --print-config`: the effective configuration is the file with
# the -o overrides on top (lists append, other keys are replaced); an
# unknown key (file or -o), an unknown section or a bad value is refused
# with exit status 2 and a message naming the key; the printout loads
# again as the same configuration.  Whatever start-up refuses (a mirror
# URL, a trusted key that is missing or not a key, peer_allow,
# metrics_listen, durations out of bounds) --print-config refuses too; a
# config file must be a bounded regular text file whose bad line is named.  And the documentation of the keys:
# the sample config lists every key of common/config.c with its real
# default (uncommented, it gives the defaults), and --help names them all.
set -eu
. "$(dirname "$0")/../lib/common.sh"
pc_setup

PEERCACHE="$PC_BIN/peercache"
EXAMPLE="$PC_SRC/systemd/peercache.conf.example"
"$PC_BIN/peercache-publish" keygen "$PC_TMP/a" >/dev/null
KEY="$PC_TMP/a.pub"

# print_config ARGS...: --print-config with ARGS, which must succeed; the
# output in $PC_OUT.
print_config() {
	pc_run "$PEERCACHE" "$@" --print-config
	[ "$PC_RC" = 0 ] || fail "peercache $* --print-config: exit $PC_RC:
$PC_OUT"
}

# value KEY: the values of KEY in $PC_OUT, one a line.
value() {
	awk -v k="$1" -F ' = ' '$1 == k { print $2 }' <<<"$PC_OUT"
}

# The keys of common/config.c's table as "name KIND default" lines, the
# default as text ("-" for the keys that have none), from pc-config-keys,
# the build tool that prints the table (man/config-keys.c).
config_keys() {
	"$PC_BIN/pc-config-keys" | awk -F '\t' '{
		gsub("/", "_", $2)
		print $1, $2, ($3 == "1" ? $4 : "-") }'
}

mapfile -t KEYS < <(config_keys)
[ "${#KEYS[@]}" -ge 31 ] ||
	fail "read only ${#KEYS[@]} keys from common/config.c: ${KEYS[*]:-none}"
for entry in "${KEYS[@]}"; do
	[[ "$entry" =~ ^[a-z_]+\ [a-z_]+\ [^\ ?]*$ ]] ||
		fail "cannot read the key table entry '$entry'"
done

# --- file + -o: the command line wins, lists append --------------------------
cat >ops.conf <<'EOF'
# a node's configuration
[peercache]
mirror = http://mirror-a.example/repo
trusted_key = KEY
poll_interval = 5m
quota = 1G
discovery = off
discovery_timeout = 80ms
peer_allow = 10.20.0.0/16
log_level = warn
EOF
sed -i "s|KEY|$KEY|" ops.conf
print_config -c ops.conf -o poll_interval=7m -o mirror=file:///srv/b \
	-o discovery=on -o log_level=debug
assert_eq "$(printf '%s\n' http://mirror-a.example/repo file:///srv/b)" \
	"$(value mirror)" "mirrors: the file's, then -o's"
assert_eq 420s "$(value poll_interval)" "-o poll_interval wins over the file"
assert_eq on "$(value discovery)" "-o discovery wins over the file"
assert_eq debug "$(value log_level)" "-o log_level wins over the file"
assert_eq 1073741824 "$(value quota)" "quota from the file"
assert_eq 80ms "$(value discovery_timeout)" "discovery_timeout from the file"
assert_eq 10.20.0.0/16 "$(value peer_allow)" "peer_allow from the file"
assert_eq /var/cache/peercache/control.sock "$(value control_socket)" \
	"control_socket derived from cache_dir"
assert_eq 600s "$(value peer_ban_time)" "a key set nowhere keeps its default"

# --- the printout is a config file that gives the same configuration -----------
echo "$PC_OUT" >printed.conf
first=$PC_OUT
print_config -c printed.conf
assert_eq "$first" "$PC_OUT" "--print-config of the printed config"

# --- refusals: exit 2, the key (or section) named, nothing printed --------------
# refused WHAT NEEDLE ARGS...
refused() {
	local what=$1 needle=$2
	shift 2
	expect_status 2 "$needle" "$what" "$PEERCACHE" "$@" --print-config
	assert_not_contains "$PC_OUT" "[peercache]" "$what: printed anyway"
}
base=(-o mirror=http://m.example/r -o trusted_key="$KEY")
refused "unknown key via -o" "unknown configuration key 'mirrors'" \
	"${base[@]}" -o mirrors=http://x/
printf '[peercache]\nmirror = http://m/\nfrobnicate = 1\n' >unknown.conf
refused "unknown key in the file" "unknown configuration key 'frobnicate'" \
	-c unknown.conf -o trusted_key="$KEY"
assert_contains "$PC_OUT" "unknown.conf" "the message names the file"
printf '[mirrors]\nmirror = http://m/\n' >section.conf
refused "unknown section" "unknown section [mirrors]" -c section.conf
refused "-o without =" "expected KEY=VALUE" "${base[@]}" -o quota
refused "bad size" "quota: 'lots' is not a size" "${base[@]}" -o quota=lots
refused "bad on/off" "discovery: 'maybe' is not on or off" "${base[@]}" \
	-o discovery=maybe
refused "port out of range" "peer_port: '65536' is not a number from 1 to 65535" \
	"${base[@]}" -o peer_port=65536
refused "count of zero" "max_fetches: '0'" "${base[@]}" -o max_fetches=0
refused "ms over the bound" "discovery_timeout: '20s'" "${base[@]}" \
	-o discovery_timeout=20s
refused "bad duration" "max_age: '3 days'" "${base[@]}" -o "max_age=3 days"
refused "bad log level" "log_level: 'loud'" "${base[@]}" -o log_level=loud
printf '[peercache]\nquota = 5Q\n' >badvalue.conf
refused "bad value in the file" "quota: '5Q' is not a size" -c badvalue.conf \
	"${base[@]}"
refused "no mirror" "at least one mirror" -o trusted_key=/k.pub
refused "no trusted key" "at least one trusted key" -o mirror=http://m/
expect_status 2 "/nonexistent/ops.conf" "a named config file that is missing" \
	"$PEERCACHE" -c /nonexistent/ops.conf "${base[@]}" --print-config

# Bounds: no duration or size the daemon cannot compute with.
refused "fetch_timeout overflowing" \
	"fetch_timeout: '18446744073709551615' is out of range: from 2s to 1h" \
	"${base[@]}" -o fetch_timeout=18446744073709551615
refused "low_speed_time overflowing" "low_speed_time: '18446744073709551615'" \
	"${base[@]}" -o low_speed_time=18446744073709551615
refused "low_speed_time not below fetch_timeout" \
	"low_speed_time (10s) must be shorter than fetch_timeout (5s)" \
	"${base[@]}" -o fetch_timeout=5s -o low_speed_time=10s
print_config "${base[@]}" -o fetch_timeout=5s
assert_eq 2s "$(value low_speed_time)" "the default low_speed_time below fetch_timeout"

# What start-up refuses, --print-config refuses (issue 10 item 14).
refused "a CIDR of /33" "peer_allow:" "${base[@]}" -o peer_allow=10.0.0.0/33
refused "a port over 65535" "metrics_listen: '0.0.0.0:99999'" "${base[@]}" \
	-o metrics_listen=0.0.0.0:99999
refused "an ftp mirror" "mirror ftp://x: only http://" "${base[@]}" -o mirror=ftp://x
refused "a trusted key that is not a key" "trusted_key: $PC_TMP/ops.conf" \
	-o mirror=http://m/ -o trusted_key="$PC_TMP/ops.conf"
refused "a trusted key that does not exist" \
	"trusted_key: $PC_TMP/none.pub: No such file" \
	-o mirror=http://m/ -o trusted_key="$PC_TMP/none.pub"
refused "a fleet key that does not exist" "fleet_key_file:" "${base[@]}" \
	-o fleet_key_file="$PC_TMP/none.key"

# The file itself: regular, bounded, text, its bad line named.
pc_run timeout 10 "$PEERCACHE" -c /dev/zero "${base[@]}" --print-config
assert_eq 2 "$PC_RC" "-c /dev/zero (124: it hung)"
assert_contains "$PC_OUT" "/dev/zero: not a regular file" "-c /dev/zero"
refused "a directory" "is a directory" -c "$PC_TMP" "${base[@]}"
mkfifo fifo.conf
pc_run timeout 10 "$PEERCACHE" -c fifo.conf "${base[@]}" --print-config
assert_eq 2 "$PC_RC" "-c FIFO (124: it hung)"
{ printf '[peercache]\nquota = 1G\nmirror = http://'
  head -c 300 /dev/zero | tr '\0' a
  printf '/r\nprefetch = 2\n'; } >long.conf
refused "a 300-byte line" "long.conf:3: line longer than 198 bytes" -c long.conf "${base[@]}"
printf '[peercache]\nquota = 1\033[31mG\n' >binary.conf
refused "control bytes" "binary.conf:2: control byte 0x1b" -c binary.conf "${base[@]}"
assert_not_contains "$PC_OUT" $'\033' "raw control bytes echoed"
refused "control bytes in -o" "quota: '1\\x1b[31mG' is not a size" "${base[@]}" \
	-o $'quota=1\033[31mG'
assert_not_contains "$PC_OUT" $'\033' "raw control bytes of -o echoed"

# --- the sample config: every key, with its real default -------------------------
for entry in "${KEYS[@]}"; do
	read -r key type default <<<"$entry"
	case "$default" in
	-) grep -qE "^#$key = [^ ]" "$EXAMPLE" ||
		fail "the sample config shows no example of '$key'" ;;
	"") grep -qxE "#$key =" "$EXAMPLE" ||
		fail "the sample config does not list '#$key =' (default: empty)" ;;
	*) grep -qxF "#$key = $default" "$EXAMPLE" ||
		fail "the sample config does not list '#$key = $default' ($type)" ;;
	esac
done
# Uncommented, the sample's lines are the defaults (its examples of the
# two lists and of a section's mount_point aside).
sed -nE 's/^#([a-z_]+ =.*)$/\1/p' "$EXAMPLE" |
	grep -vE '^(mirror|trusted_key|mount_point) =' >example.conf
print_config -c example.conf "${base[@]}"
from_example=$PC_OUT
print_config -c /dev/null "${base[@]}"
assert_eq "$PC_OUT" "$from_example" \
	"the uncommented sample config differs from the defaults"
# Every key there is a key, every key there once.
for key in $(sed -nE 's/^#([a-z_]+) =.*$/\1/p' "$EXAMPLE" | sort -u); do
	printf '%s\n' "${KEYS[@]}" | grep -q "^$key " ||
		fail "the sample config documents '$key', which config.c does not know"
done

# --- --help names every key ------------------------------------------------------
pc_run "$PEERCACHE" --help
assert_eq 0 "$PC_RC" "peercache --help"
for entry in "${KEYS[@]}"; do
	key=${entry%% *}
	grep -qE "(^|[ ,])$key(,|\$)" <<<"$PC_OUT" ||
		fail "--help does not name '$key' in its list of keys"
done
echo "ok: print-config, refusals, the sample config and --help (${#KEYS[@]} keys)"
