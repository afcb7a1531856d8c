#!/bin/bash
# check-shape.sh [SOURCE_DIR] - the size and shape docs/STYLE.md asks of
# the code: no .c file over 800 lines, no function over 60 lines (the
# lines between its opening and closing brace, which clang-format puts
# alone at column 0).  It checks the modules and tools (common/ format/
# store/ net/ fs/ daemon/ tools/), not tests/ and bench/, whose scripts
# and test tables are long by nature.
#
# Known exceptions are listed in scripts/shape-exceptions.txt, one a line:
# "FILE" for a long file, "FILE FUNCTION" for a long function.  Every run
# prints every exception it finds, listed or not, so that none hides; it
# fails (exit 1) only for one that is not listed, and says which listed
# ones are gone (then remove them from the list).  Run by ctest (test
# "shape", label lint) and `make check-shape`.
set -eu

root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
max_file=800
max_fn=60
listed=$root/scripts/shape-exceptions.txt
cd "$root"

found=$(mktemp)
trap 'rm -f "$found"' EXIT

files=$(find common format store net fs daemon tools -name '*.c' | sort)
# shellcheck disable=SC2086
wc -l $files | awk -v max=$max_file '$2 != "total" && $1 > max {
	printf "%s|%s|%d lines (at most %d)\n", $2, "", $1, max }' >>"$found"
# A function: a line at column 0 naming it (the last word before "("),
# then "{" alone, until "}" alone.
# shellcheck disable=SC2086
awk -v max=$max_fn '
FNR == 1 { body = 0 }
{
	if (!body && $0 == "{") {
		body = 1; start = FNR; fn = name
	} else if (body && $0 == "}") {
		if (FNR - start - 1 > max)
			printf "%s|%s|%d lines (at most %d)\n", FILENAME, fn,
				FNR - start - 1, max
		body = 0
	} else if (!body && $0 ~ /^[A-Za-z_].*\(/) {
		s = $0; sub(/\(.*/, "", s); n = split(s, w, /[ *]+/); name = w[n]
	}
}' $files >>"$found"

new=0
while IFS='|' read -r file fn what; do
	key=$file${fn:+ $fn}
	if grep -qxF "$key" "$listed"; then
		echo "check-shape: exception: $key: $what"
	else
		echo "check-shape: NEW: $key: $what" >&2
		new=$((new + 1))
	fi
done <"$found"
while read -r line; do
	case $line in '' | '#'*) continue ;; esac
	file=${line%% *}
	fn=${line#"$file"}
	fn=${fn# }
	if ! awk -F'|' -v f="$file" -v g="$fn" \
		'$1 == f && $2 == g { hit = 1 } END { exit !hit }' "$found"; then
		echo "check-shape: gone (remove it from $listed): $line"
	fi
done <"$listed"
total=$(wc -l <"$found")
echo "check-shape: $total exception(s), $new not listed"
[ "$new" -eq 0 ]
