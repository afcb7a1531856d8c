#!/usr/bin/env bash
# bash completion of the build (completion/), loaded as bash-completion
# loads it: commands, options, -o KEY= from the daemon's keys, -i NAME from
# the instances of the host (/etc/peercache/NAME.conf; an overlay in a
# private mount namespace, lib/scratch.sh), purge's own options, and
# peercache-publish's commands, options and key files.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/scratch.sh"
pc_scratch_isolate "$@"
pc_setup
pc_scratch_overlay /etc

BASH_COMPLETION=/usr/share/bash-completion/bash_completion
[ -f "$BASH_COMPLETION" ] || fail "bash-completion is not installed ($BASH_COMPLETION): make deps"
COMPLETIONS="$(cd "$PC_BIN/.." && pwd)/completion"
for f in peercachectl peercache-publish; do
	bash -n "$COMPLETIONS/$f" || fail "$f: bash syntax error"
done

mkdir -p /etc/peercache
: >/etc/peercache/av-updates.conf
: >/etc/peercache/engines.conf
: >/etc/peercache/publish-av-updates.env
mkdir keys repo
: >keys/new.pub
: >keys/new.key

# complete COMMAND-LINE: what TAB offers at its end (a trailing space
# starts a new word), one a line, sorted.
complete_line() {
	bash -c '
		. "$1"
		. "$2/peercachectl"
		. "$2/peercache-publish"
		read -ra COMP_WORDS <<<"$3"
		[ "${3: -1}" = " " ] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$3
		COMP_POINT=${#3}
		case ${COMP_WORDS[0]} in
		peercachectl) _peercachectl ;;
		peercache-publish) _peercache_publish ;;
		esac
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BASH_COMPLETION" "$COMPLETIONS" "$1"
}

# offers COMMAND-LINE EXPECTED...: exactly these.
offers() {
	local line=$1 got
	shift
	got=$(complete_line "$line" | tr '\n' ' ')
	assert_eq "$* " "$got" "completion of '$line'"
}

offers "peercachectl st" stats status
offers "peercachectl " check peers prefetch purge refresh restart rollback stats status unpin verify
offers "peercachectl -i " av-updates engines
offers "peercachectl --instance e" engines
offers "peercachectl -o max_" max_age= max_fetches= max_uploads=
offers "peercachectl -o peer_p" peer_port=
offers "peercachectl -i engines purge --" --all --cache-dir --config --help --instance --json --repository --socket --to
offers "peercachectl status --t"
offers "peercachectl -i av-updates s" stats status
offers "peercache-publish ke" keygen keys # commands, or a SOURCE_DIR
offers "peercache-publish verify --trusted-key keys/" keys/new.pub
offers "peercache-publish --k" --keep --key
offers "peercache-publish --key keys/n" keys/new.key
offers "peercache-publish extract --trusted-key keys/new.pub re" repo
# Every key the daemon has is offered after -o.
keys=$(complete_line "peercachectl -o " | wc -l)
assert_eq "$("$PC_BIN/pc-config-keys" | wc -l)" "$keys" "keys offered after -o"
echo "ok: completion of peercachectl and peercache-publish"
