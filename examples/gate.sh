#!/bin/sh
# A provider's intake gate for a batch of requester configs: one record per file,
# "FILE<TAB>ok<TAB>ENDPOINT" or "FILE<TAB>refused<TAB>PROBLEMS", for cron or a queue.
# usage: gate.sh CONFIG...
set -eu
for f in "$@"; do
	if ep=$(omerta-wgconf show --json "$f" 2>"${TMPDIR:-/tmp}/gate.$$"); then
		printf '%s\tok\t%s\n' "$f" "$(printf '%s' "$ep" | jq -r .endpoint)"
	else
		printf '%s\trefused\t%s\n' "$f" "$(sed 's/^omerta-wgconf: //' "${TMPDIR:-/tmp}/gate.$$" | paste -sd ';' -)"
	fi
done
rm -f "${TMPDIR:-/tmp}/gate.$$"
