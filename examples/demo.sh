#!/bin/sh
# sudo make demo: a real per-job WireGuard VPN, end to end, in a small world of
# network namespaces (this machine has no internet, and the demo touches nothing
# outside the namespaces it makes).
#
# The provider's VM workflow (omerta execute / submit) is not built yet, so this
# demo runs the most useful real part that exists: the requester's per-job server
# (omerta-vpnserve), the provider's config gate (omerta-wgconf), and a real
# WireGuard client on the provider whose traffic leaves through the tunnel.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="$here/bin:$PATH"
tag=demo$$
export OMERTA_RUN_DIR="${TMPDIR:-/tmp}/omerta-demo-$$"
req=omt-$tag-req prov=omt-$tag-prov
job=demo-$$
cpid=

cleanup() {
	[ -z "$cpid" ] || kill "$cpid" 2>/dev/null || true
	ip netns exec "$req" omerta-vpnserve down --job "$job" 2>/dev/null || true
	sh "$here/tests/lib/world.sh" down "$tag"
	rm -rf "$OMERTA_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
whoami() { ip netns exec "$1" sh -c 'printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80' | tail -n 1; }

say "omerta demo: per-job VPN (the VM workflow is not built yet; see README)"
sh "$here/tests/lib/world.sh" up "$tag"
mkdir -m 700 "$OMERTA_RUN_DIR"
sleep 0.2
say "provider 192.0.2.2, requester 198.51.100.1, internet host 203.0.113.10"
say "internet host sees the provider directly as: $(whoami "$prov")"

ip netns exec "$req" omerta-vpnserve up --job "$job" --endpoint-host 198.51.100.1 --owner $$ >"$OMERTA_RUN_DIR/client.conf"
say "requester: omerta-vpnserve up --job $job -> client config ($(grep -c . "$OMERTA_RUN_DIR/client.conf") lines)"
ip netns exec "$prov" omerta-wgconf check "$OMERTA_RUN_DIR/client.conf"
say "provider: omerta-wgconf check: ok; endpoint $(omerta-wgconf show --json "$OMERTA_RUN_DIR/client.conf" | jq -r .endpoint)"

WG_PROCESS_FOREGROUND=1 ip netns exec "$prov" wireguard-go omtdemo0 >/dev/null 2>&1 &
cpid=$!
i=0
until ip netns exec "$prov" wg show omtdemo0 >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -lt 100 ] || { echo "demo: wireguard-go did not start" >&2; exit 1; }
	sleep 0.05
done
ip netns exec "$prov" omerta-wgconf setconf "$OMERTA_RUN_DIR/client.conf" |
	ip netns exec "$prov" wg setconf omtdemo0 /dev/stdin
addr=$(omerta-wgconf show --json "$OMERTA_RUN_DIR/client.conf" | jq -r '.address[0]')
ip -n "$prov" addr add "$addr" dev omtdemo0
ip -n "$prov" link set omtdemo0 up
ip -n "$prov" route add 198.51.100.1/32 via 192.0.2.254
ip -n "$prov" route replace default dev omtdemo0
ip netns exec "$req" omerta-vpnserve wait --job "$job" --timeout 10
say "tunnel up: handshake completed"
say "internet host sees the provider's tunnelled traffic as: $(whoami "$prov")"
ip netns exec "$req" omerta-vpnserve status --job "$job" |
	awk -F'\t' '{print "status: job " $1 ", port " $3 ", rx " $7 " B, tx " $8 " B, connected " $9}'
ip netns exec "$req" omerta-vpnserve down --job "$job"
say "requester: omerta-vpnserve down: done"
