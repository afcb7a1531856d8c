#!/bin/bash
# `make demo` keeps working: scripts/demo.sh publishes examples/, verifies
# it, and publishes a definitions update in which only the changed chunks
# are new.  And examples/catalog.json describes the files that are really
# there (size and SHA-256 of each package).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

# ---- the catalog matches the tree ------------------------------------------
pc_run python3 - "$PC_SRC/examples" <<'EOF'
import hashlib, json, os, sys
root = sys.argv[1]
catalog = json.load(open(os.path.join(root, "catalog.json")))
for p in catalog["packages"]:
    data = open(os.path.join(root, p["path"]), "rb").read()
    if len(data) != p["size"] or hashlib.sha256(data).hexdigest() != p["sha256"]:
        sys.exit("catalog.json is stale for " + p["path"])
print("catalog ok:", len(catalog["packages"]), "packages")
EOF
assert_eq 0 "$PC_RC" "examples/catalog.json ($PC_OUT)"
assert_contains "$PC_OUT" "catalog ok: 4 packages" "examples/catalog.json"
size=$(du -sb "$PC_SRC/examples" | cut -f1)
[ "$size" -lt $((5 * 1024 * 1024)) ] || fail "examples/ is $size bytes, over 5 MiB"

# ---- the demo ----------------------------------------------------------------
PC_DEMO_DIR="$PC_TMP/demo" pc_run "$PC_SRC/scripts/demo.sh" "$PC_BIN/.."
assert_eq 0 "$PC_RC" "demo.sh exit status; output:
$PC_OUT"
assert_contains "$PC_OUT" "published demo-updates version 1" "demo: publish"
assert_contains "$PC_OUT" "ok: demo-updates version 1, 11 entries" \
	"demo: verify"
assert_contains "$PC_OUT" "is identical to examples/." "demo: extract"
# The update touches daily.cvd's last chunk and catalog.json; the other
# seven chunks are reused.
assert_contains "$PC_OUT" "chunks:   2 new" "demo: update"
assert_contains "$PC_OUT" ", 7 reused" "demo: update"
assert_contains "$PC_OUT" "ok: demo-updates version 2" "demo: update verified"
assert_eq 2 "$(head_field "$PC_TMP/demo/mirror" version)" "demo mirror version"
expect_status 0 "ok: demo-updates version 2" "verify the demo mirror" \
	"$PUBLISH" verify --trusted-key "$PC_TMP/demo/signing.key.pub" \
	"$PC_TMP/demo/mirror"
