#!/bin/sh
# make bench: what exists so far, measured side by side, written to
# bench/results/<date>-<host>.md. Method: bench/README.md.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces)" >&2; exit 1; }
N=${BENCH_RUNS:-20}
tag=bench$$
export OMERTA_RUN_DIR="${TMPDIR:-/tmp}/omerta-bench-$$"
mkdir -m 700 "$OMERTA_RUN_DIR"
req=omt-$tag-req
out=bench/results/$(date +%F)-$(hostname -s).md
cleanup() {
	ip netns exec "$req" bin/omerta-vpnserve gc >/dev/null 2>&1 || true
	sh tests/lib/world.sh down "$tag"
	rm -rf "$OMERTA_RUN_DIR"
}
trap cleanup EXIT
sh tests/lib/world.sh up "$tag"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
# stats FILE: "median min max" of one number a line
stats() { sort -n "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s %s %s", m, v[1], v[NR]}'; }

t=$(mktemp -d)
for i in $(seq "$N"); do
	a=$(ms)
	ip netns exec "$req" bin/omerta-vpnserve up --job "b$i" --endpoint-host 198.51.100.1 --owner $$ >"$t/conf"
	b=$(ms)
	ip netns exec "$req" bin/omerta-vpnserve down --job "b$i"
	c=$(ms)
	echo $((b - a)) >>"$t/up"
	echo $((c - b)) >>"$t/down"
	a=$(ms)
	bin/omerta-wgconf check --allow-private-endpoint "$t/conf"
	b=$(ms)
	echo $((b - a)) >>"$t/check"
	a=$(ms)
	ip netns exec "$req" sh -c 'wireguard-go omtbench0 >/dev/null 2>&1 && ip link del omtbench0'; rm -f /var/run/wireguard/omtbench0.sock
	b=$(ms)
	echo $((b - a)) >>"$t/wggo"
done
{
	echo "# omerta bench, $(date -u '+%F %H:%M UTC'), $(hostname -s)"
	echo
	echo "$(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r)."
	echo "$N runs each, in ms: median (min-max). Shared, noisy machine: compare ratios within one run."
	echo
	echo "| measurement | median | min | max |"
	echo "|---|---|---|---|"
	for m in up:"omerta-vpnserve up (wireguard-go, keys, nft, state)" \
		down:"omerta-vpnserve down" \
		wggo:"reference: bare wireguard-go start + ip link del" \
		check:"omerta-wgconf check"; do
		# shellcheck disable=SC2046
		set -- $(stats "$t/${m%%:*}")
		echo "| ${m#*:} | $1 | $2 | $3 |"
	done
} >"$out"
rm -rf "$t"
cat "$out"
