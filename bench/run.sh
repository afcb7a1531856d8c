#!/bin/bash
# run.sh BUILD_DIR - runs every benchmark in bench/ (bench/*.sh but this
# one and fastpath.sh, which runs some of them again), in name order,
# against the binaries in BUILD_DIR/bin.  Benchmarks print figures and
# ratios; none of them asserts anything about time.  Exits non-zero if a
# benchmark fails to run.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
status=0
for bench in "$here"/*.sh; do
	# fastpath.sh runs the others again (issue 11's list in one table).
	case $(basename "$bench") in run.sh | fastpath.sh) continue ;; esac
	echo "=== $(basename "$bench" .sh)"
	"$bench" "$build" || status=1
	echo
done
exit "$status"
