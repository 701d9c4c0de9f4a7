#!/bin/sh
# fanout.sh PROVIDERS SCRIPT... [-- SUBMIT_OPTION...]: a batch over several providers.
# PROVIDERS is a file of ssh://USER@HOST:PORT lines; the scripts go to them in turn,
# all at once (xargs -P), and each provider keeps to its own slots: a job past them
# waits in its queue ("queued, position N" on stderr) or is refused, and says so.
# One JSON line per job on stdout: its result record with "provider", "job" and the
# job's "stdout". Exit 0 when every job completed with 0, else 1.
set -eu
[ $# -ge 2 ] || { echo "usage: fanout.sh PROVIDERS SCRIPT... [-- SUBMIT_OPTION...]" >&2; exit 2; }
list=$1
shift
[ -r "$list" ] || { echo "fanout.sh: $list: no such file" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The pairs, NUL-separated (names may hold spaces): provider, script, in turn.
grep -v '^[[:space:]]*\(#\|$\)' "$list" >"$tmp/providers"
n=$(wc -l <"$tmp/providers")
[ "$n" -gt 0 ] || { echo "fanout.sh: $list: no providers" >&2; exit 2; }
i=0 jobs=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	i=$((i % n + 1))
	printf '%s\0%s\0' "$(sed -n "${i}p" "$tmp/providers")" "$1"
	jobs=$((jobs + 1))
	shift
done >"$tmp/pairs"
[ "${1:-}" != -- ] || shift
# The one line that does the work: every job at once, each its own submit.
# shellcheck disable=SC2016 # $0, $1 and $@ are the inner shell's
xargs -0 -n 2 -P "$jobs" sh -c '
	out=$0 n=$(($# - 2)) i=0
	eval "p=\${$(($# - 1))} j=\${$#}"
	for a do
		shift
		[ "$i" -ge "$n" ] || set -- "$@" "$a"
		i=$((i + 1))
	done
	rc=0
	omerta submit --create-vpn --provider "$p" --script-file "$j" --json "$@" >"$out.$$" || rc=$?
	jq -c -s --arg p "$p" --arg j "$j" --argjson rc "$rc" "(map(select(.event == \"output\" and .stream == \"stdout\") | .data // \"\") | join(\"\")) as \$o
		| ((map(select(.event == \"result\")) | last) // {event: \"result\", status: \"error\", exit_code: \$rc})
		+ {provider: \$p, job: \$j, stdout: \$o}" "$out.$$" 2>/dev/null ||
		jq -nc --arg p "$p" --arg j "$j" --argjson rc "$rc" "{event: \"result\", status: \"error\", exit_code: \$rc, provider: \$p, job: \$j}"
	rm -f "$out.$$"
' "$tmp/out" "$@" <"$tmp/pairs" >"$tmp/results" || true
cat "$tmp/results"
[ "$(jq -s 'map(select(.status == "completed" and .exit_code == 0)) | length' "$tmp/results")" -eq "$jobs" ]
