#!/bin/sh
# A batch of jobs: every *.sh in DIR runs as its own job with its own tunnel, one
# after another; one record per job: FILE<TAB>STATUS<TAB>EXIT_CODE<TAB>TOTAL_MS.
# usage: batch.sh DIR [omerta submit options, e.g. --provider ssh://host]
set -eu
dir=$1
shift
for f in "$dir"/*.sh; do
	[ -f "$f" ] || continue
	omerta submit --create-vpn --json --script-file "$f" "$@" 2>/dev/null |
		jq -r --arg f "${f##*/}" 'select(.event=="result") |
			[$f, .status, (.exit_code // "-" | tostring), (.timings_ms.total | tostring)] | @tsv' ||
		true
done
