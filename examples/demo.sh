#!/bin/sh
# sudo make demo: a real job through a real per-job VPN, end to end, in a small world
# of network namespaces (this machine has no internet, and the demo touches nothing
# outside the namespaces it makes).
#
#   requester 198.51.100.1 --- router --- internet host 203.0.113.10
#   provider  192.0.2.2   ---/
#
# The requester runs "omerta submit --create-vpn": a per-job WireGuard server, then the
# job in a VM whose only way out is that tunnel. The internet host says whose address
# it sees. A second job tries to go around the tunnel and is killed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# The checkout's tools, or the installed package's (OMERTA_INSTALLED=1).
[ -n "${OMERTA_INSTALLED:-}" ] || PATH="$here/bin:$PATH"
export PATH
tag=demo$$
export OMERTA_RUN_DIR="${TMPDIR:-/tmp}/omerta-demo-$$"
req=omt-$tag-req prov=omt-$tag-prov

cleanup() {
	ip netns exec "$req" omerta gc >/dev/null 2>&1 || true
	sh "$here/tests/lib/world.sh" down "$tag"
	rm -rf "$OMERTA_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
whoami() { ip netns exec "$1" sh -c 'printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80' | tail -n 1; }

say "omerta demo: a job in a VM whose only way out is its own WireGuard tunnel"
sh "$here/tests/lib/world.sh" up "$tag"
mkdir -m 700 "$OMERTA_RUN_DIR"
sleep 0.2
say "the internet host sees the provider, directly, as: $(whoami "$prov")"
say
say "job 1: omerta submit --create-vpn --provider local (TCG, a few seconds)"
set +e
# shellcheck disable=SC2016 # the script is the guest's, expanded there
ip netns exec "$req" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
	--uplink wan --script '
		echo "hello from $(uname -sr) in the guest"
		echo "the internet host sees this job as: $(printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1)"
		exit 7' >"$OMERTA_RUN_DIR/out1"
rc=$?
set -e
sed 's/^/  | /' "$OMERTA_RUN_DIR/out1"
say "job 1 exit status: $rc (the workload's own)"
say
say "job 2: a root workload flushes its firewall and connects directly"
# The image holds no nft: the attacker brings its own flush (tests/lib/nft-flush.c).
flush=$(sh "$here/tests/lib/nft-flush.sh")
set +e
ip netns exec "$req" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
	--uplink wan --json --root --script "$flush; "'ip route replace default via 10.66.0.1 dev eth0
		printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 203.0.113.10 80; echo escaped' 2>/dev/null |
	jq -r 'select(.event=="rogue_connection" or .event=="result") |
		if .event=="rogue_connection" then "  | rogue_connection: \(.frame.protocol) to \(.frame.dst):\(.frame.dport), VM killed in \(.detection_ms) ms"
		else "  | result: \(.status)" end'
set -e
say
left=$(ip netns exec "$req" omerta status | awk -F'\t' '$1=="job"' | wc -l)
say "jobs left running: $left; tunnels left: $(ip -n "$req" -o link show | grep -c omv || true)"
