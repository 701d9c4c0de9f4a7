#!/bin/sh
# bench/images.sh [TAG]: what an image costs a job (issue 16), side by side in one run:
# `omerta execute --script true` on the initramfs and with --image debian-python,
# BENCH_JOBS times each (default 5), alternating, through real tunnels; the medians
# of the result's timings_ms.total and their ratio (the issue's bound: 1.25), and the
# same for a python job (--language python --script pass). Prints a markdown section.
# With TAG, uses that test world (bench/run.sh's); without, makes its own. Needs
# root, and builds debian-python first if the catalogue lacks it.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_down() {
	ip netns exec "$req" omerta-vpnserve down --job bimg >/dev/null 2>&1 || true
}
bench_start images bimg "$@"
n=${BENCH_JOBS:-5}
bench_world
img=${OMERTA_IMAGE_DIR:-/var/lib/omerta/images}/debian-python.img
[ -e "$img" ] || bin/omerta-mkimage --debian bookworm --packages python3,python3-pip,curl,ca-certificates \
	--name debian-python >/dev/null

# total ARGS...: one job's timings_ms.total (ms), or nothing.
total() {
	ip netns exec "$req" omerta-vpnserve up --job bimg --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/c.conf"
	ip netns exec "$prov" omerta execute --vpn-config "$t/c.conf" --json "$@" 2>/dev/null | tail -n 1 |
		jq -r 'select(.status == "completed") | .timings_ms.total'
	ip netns exec "$req" omerta-vpnserve down --job bimg >/dev/null 2>&1 || true
}
# One job of each first, to warm the base caches; then n of each, alternating.
total --script true >/dev/null
total --script true --image debian-python >/dev/null
total --language python --script pass >/dev/null
for _ in $(seq "$n"); do
	total --script true >>"$t/sh"
	total --script true --image debian-python >>"$t/sh.img"
	total --language python --script pass >>"$t/py"
	total --language python --script pass --image debian-python >>"$t/py.img"
done
med() { sort -n "$1" | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }
range() { sort -n "$1" | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "-" }'; }
cat <<-MD
	### Images: a job on the initramfs and in debian-python, $n each, alternating

	| job | initramfs ms (median, range) | --image debian-python ms | ratio |
	|---|---|---|---|
	| \`--script true\` | $(med "$t/sh") ($(range "$t/sh")) | $(med "$t/sh.img") ($(range "$t/sh.img")) | $(ratio "$(med "$t/sh")" "$(med "$t/sh.img")") |
	| \`--language python --script pass\` | $(med "$t/py") ($(range "$t/py")) | $(med "$t/py.img") ($(range "$t/py.img")) | $(ratio "$(med "$t/py")" "$(med "$t/py.img")") |
MD
