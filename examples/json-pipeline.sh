#!/bin/sh
# One job, read as it happens with jq over --json: the moment the tunnel is verified,
# the workload's output, and a one-line summary from the final record.
# usage: json-pipeline.sh [omerta submit options]
set -eu
# shellcheck disable=SC2016 # the script is the guest's
omerta submit --create-vpn --json "$@" --script 'for i in 1 2 3; do echo "line $i"; done; exit 4' |
	jq -r --unbuffered '
		if .event == "vpn_up" then "vpn up after \(.guest_ms) ms of guest time"
		elif .event == "output" then .stream as $s | .data | rtrimstr("\n") | split("\n")[] | "\($s): \(.)"
		elif .event == "result" then "result: \(.status), exit \(.exit_code), \(.timings_ms.total) ms, tunnel \(.tunnel.tx_bytes)/\(.tunnel.rx_bytes) bytes out/in"
		else empty end'
