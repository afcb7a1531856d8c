#!/usr/bin/env bash
# The man pages of the build (man/): each renders with `man --warnings`
# without a word on stderr; peercache.conf(5) and the sample configuration
# document every key the daemon accepts (the keys of --print-config, which
# pc-config-keys lists from the same table), with the code's default; and
# the generator refuses a sample that lacks a key or states another
# default, so that the docs cannot drift from the code.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
MAN_DIR="$BUILD_DIR/man"
SAMPLE="$PC_SRC/systemd/peercache.conf.example"

# --- every page renders without warnings ---------------------------------------
for page in peercache.8 peercachectl.8 peercache-publish.1 peercache.conf.5; do
	[ -s "$MAN_DIR/$page" ] || fail "the build has no man page $page"
	MANWIDTH=80 man --warnings -l "$MAN_DIR/$page" >"$page.txt" 2>"$page.err" ||
		fail "man -l $page failed: $(cat "$page.err")"
	[ ! -s "$page.err" ] || fail "man --warnings -l $page: $(cat "$page.err")"
	[ "$(wc -l <"$page.txt")" -gt 20 ] || fail "$page renders to almost nothing"
	grep -q '^NAME' "$page.txt" || fail "$page has no NAME section"
done
assert_contains "$(cat peercachectl.8.txt)" "-i NAME" "peercachectl(8) is made from docs/peercachectl.md"

# --- the keys: the daemon's, the man page's, the sample's ------------------------
"$PC_BIN/pc-config-keys" | cut -f1 | sort >keys.code
[ "$(wc -l <keys.code)" -ge 20 ] || fail "pc-config-keys lists $(wc -l <keys.code) keys"
pc_keygen "$PC_TMP/key"
"$PC_BIN/peercache" -c /dev/null -o mirror=file:///nowhere \
	-o trusted_key="$PC_TMP/key.pub" --print-config >printed.conf ||
	fail "peercache --print-config failed"
# The keys of a [repository NAME] section (mount_point) too.
printf '[repository r]\nmount_point = %s\nmirror = file:///nowhere\ntrusted_key = %s\n' \
	"$PC_TMP/mnt" "$PC_TMP/key.pub" >section.conf
"$PC_BIN/peercache" -c section.conf --print-config >>printed.conf ||
	fail "peercache --print-config of a section failed"
sed -n 's/^\([a-z_]*\) = .*/\1/p' printed.conf | sort -u >keys.daemon
diff -u keys.code keys.daemon >keys.diff ||
	fail "pc-config-keys and the daemon's --print-config differ:
$(cat keys.diff)"
while read -r key; do
	grep -qE "^       $key = " peercache.conf.5.txt ||
		fail "peercache.conf(5) does not document '$key'"
	grep -qE "^#$key = ?" "$SAMPLE" ||
		fail "the sample configuration does not document '$key'"
done <keys.code
documented=$(grep -cE '^       [a-z_]+ = ' peercache.conf.5.txt)
assert_eq "$(wc -l <keys.code)" "$documented" "keys documented in peercache.conf(5)"

# --- the generator refuses what would drift -------------------------------------
# mkman SAMPLE: makes peercache.conf.5.scd from SAMPLE, output in $PC_OUT.
mkman() {
	pc_run python3 "$PC_SRC/man/mkman.py" --keys "$MAN_DIR/config-keys.tsv" \
		--sample "$1" "$PC_SRC/man/peercache.conf.5.md" out.scd
}
mkman "$SAMPLE"
assert_eq 0 "$PC_RC" "mkman.py on the real sample: $PC_OUT"
grep -v '^#quota = ' "$SAMPLE" >no-quota.example
mkman no-quota.example
[ "$PC_RC" != 0 ] || fail "mkman.py accepted a sample without quota"
assert_contains "$PC_OUT" "does not document quota" "mkman.py on a sample without quota"
sed 's/^#max_age = 30d$/#max_age = 7d/' "$SAMPLE" >other-default.example
mkman other-default.example
[ "$PC_RC" != 0 ] || fail "mkman.py accepted a sample with another default"
assert_contains "$PC_OUT" "#max_age = 7d, but the daemon's default is '30d'" \
	"mkman.py on a sample with another default"
printf '\n#no_such_key = 1\n' | cat "$SAMPLE" - >extra-key.example
mkman extra-key.example
[ "$PC_RC" != 0 ] || fail "mkman.py accepted a sample with an unknown key"
echo "ok: 4 man pages render cleanly; $(wc -l <keys.code) keys documented in both places"
