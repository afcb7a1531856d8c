#!/bin/bash
# The same tree publishes to the same bytes, whatever the threads do: the
# publisher cuts on one thread and hashes and stores on others (and small
# chunks inline), so its output must not depend on which finishes first.
# A tree of multi-chunk files (one of them twice: the same chunks stored by
# two workers at once), and small files on both sides of the inline limit
# (64 KiB), published into fresh repositories: on both CPUs, on one CPU
# (another interleaving), and from a copy of the tree (another readdir
# order).  Every run must give the same manifest and the same objects.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup
pc_keygen key

mkdir -p src/big src/small
for i in 1 2 3; do
	head -c $((6 * 1024 * 1024 + i * 4099)) /dev/urandom >"src/big/f$i.bin"
done
cp -p src/big/f1.bin src/big/copy-of-f1.bin
python3 - src/small <<'PY'
import os, random, sys
rng = random.Random(11)
for i in range(300):
    folder = os.path.join(sys.argv[1], "d%d" % (i % 7))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "s%03d" % i), "wb") as f:
        f.write(os.urandom(rng.randint(1, 160 * 1024)))
PY
cp -a src src-copy

# publish NAME SOURCE [COMMAND PREFIX...]: a fresh repository NAME.
publish() {
	local repo=$1 source=$2
	shift 2
	"$@" "$PUBLISH" --key key --name same --no-progress "$source" "$repo" \
		>"$repo.log" 2>&1 || fail "publish into $repo: $(cat "$repo.log")"
}

publish both-cpus src
publish one-cpu src taskset -c 0
publish copy src-copy
publish both-cpus-again src

manifest=$(head_field both-cpus manifest)
(cd both-cpus && find chunks -type f | sort) >objects.expected
[ "$(wc -l <objects.expected)" -gt 300 ] ||
	fail "too few objects: $(wc -l <objects.expected)"
for repo in one-cpu copy both-cpus-again; do
	assert_eq "$manifest" "$(head_field "$repo" manifest)" \
		"manifest of $repo"
	(cd "$repo" && find chunks -type f | sort) | cmp -s - objects.expected ||
		fail "$repo holds other objects than both-cpus"
done
# The duplicate file is stored once.
assert_contains "$(cat both-cpus.log)" "dedup:" "summary"
assert_eq "$(manifest_file_chunks "$(manifest_path both-cpus)" big/f1.bin)" \
	"$(manifest_file_chunks "$(manifest_path both-cpus)" big/copy-of-f1.bin)" \
	"chunks of a file and its copy"
echo "ok: 4 publishes, one manifest $manifest"
