# repo.sh - helpers for tests that publish repositories and look inside
# them (REPO/head, REPO/chunks/ab/<hex>; docs/FORMAT.md).  Source after
# common.sh.

PUBLISH="$PC_BIN/peercache-publish"

# pc_keygen PATH: a fresh signing key at PATH and PATH.pub.
pc_keygen() {
	"$PUBLISH" keygen "$1" >/dev/null ||
		fail "peercache-publish keygen $1 failed"
}

# pc_publish_as NAME KEY SRC DIR [publisher options...]: SRC published
# quietly as repository NAME into DIR, signed with KEY (made if missing);
# the test fails with the publisher's output if it fails.
pc_publish_as() {
	local name=$1 key=$2 src=$3 dir=$4
	shift 4
	[ -f "$key" ] || pc_keygen "$key"
	"$PUBLISH" --key "$key" --name "$name" --no-progress "$@" "$src" "$dir" \
		>"$PC_TMP/publish.$name.log" 2>&1 ||
		fail "publish of $name failed: $(cat "$PC_TMP/publish.$name.log")"
}

# head_field REPO FIELD: the value of one line "FIELD VALUE" of REPO/head.
head_field() {
	local value
	value=$(awk -v f="$2" '$1 == f { print $2; exit }' "$1/head")
	[ -n "$value" ] || fail "$1/head has no field '$2'"
	echo "$value"
}

# object_path REPO HEX: where the object with that id lives.
object_path() {
	echo "$1/chunks/${2:0:2}/$2"
}

# manifest_path REPO: the manifest object the head names.
manifest_path() {
	object_path "$1" "$(head_field "$1" manifest)"
}

# manifest_chunks MANIFEST_FILE: the chunk ids it lists, one a line, in
# order of appearance (chunk lines are "<64 hex> <length>").
manifest_chunks() {
	grep -E '^[0-9a-f]{64} [0-9]+$' "$1" | cut -d' ' -f1
}

# manifest_file_chunks MANIFEST_FILE PATH: the chunk ids of one file entry
# ("F mode mtime size nchunks path", then its chunk lines).  PATH as it is
# written in the manifest (escaped).
manifest_file_chunks() {
	awk -v p="$2" '
		$1 == "F" && $6 == p { n = $5; next }
		n > 0 { print $1; n-- }' "$1"
}

# pc_sign_head KEY REPO FIELD=VALUE...: writes REPO/head as a head signed
# with KEY (a private key file) whose fields are REPO/head's with the given
# ones replaced: heads the publisher would never write (a manifest that
# does not exist, a second head of one version, ...).  openssl does the
# Ed25519 signature over every byte before the signature line.
pc_sign_head() {
	local key=$1 repo=$2 text keyid sig
	shift 2
	text=$(grep -v '^signature ' "$repo/head")
	for kv in "$@"; do
		text=$(awk -v k="${kv%%=*}" -v v="${kv#*=}" \
			'$1 == k { print k " " v; next } { print }' <<<"$text")
	done
	printf '%s\n' "$text" >"$repo/head.text"
	keyid=$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 |
		sha256sum | cut -c1-16)
	sig=$(openssl pkeyutl -sign -rawin -inkey "$key" -in "$repo/head.text" |
		od -An -tx1 -v | tr -d ' \n')
	[ ${#sig} = 128 ] || fail "pc_sign_head: no signature from openssl"
	{ cat "$repo/head.text"; echo "signature $keyid $sig"; } >"$repo/head.new"
	mv "$repo/head.new" "$repo/head"
	rm -f "$repo/head.text"
}
