#!/bin/sh
# bench/kernel.sh [TAG]: omerta's own guest kernel (make kernel) against Debian's,
# side by side in one run (issue 19). BENCH_KERNEL_RUNS rounds (default 7), each, in
# turn: a bare boot of Debian's kernel (busybox /init that powers off, the same QEMU
# flags through omerta-vmboot: bench/run.sh's), a bare boot of the own kernel (/init
# restarts: with no ACPI it cannot power off), `omerta execute --script true` on
# Debian's and on the own kernel. Medians; the issue's bounds: the own job at most
# 0.6 of Debian's bare boot, the own QEMU-start-to-vpn_up at most half of Debian's.
# Also detection_ms of a root workload that goes around the tunnel, on each (not to
# be worse), the kernels' sizes and their guests' phases. With TAG, uses that test world
# (bench/run.sh's); without, makes its own. Needs root, and the kernel built (it
# runs make kernel's script: a lookup once built). Prints a markdown section.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_down() {
	ip netns exec "$req" omerta-vpnserve down --job bkrn >/dev/null 2>&1 || true
}
bench_start kernel bkrn "$@"
n=${BENCH_KERNEL_RUNS:-7}
deb=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
mine=$(sh share/mkkernel.sh 2>"$t/mkkernel.err") || { cat "$t/mkkernel.err" >&2; exit 1; }
bench_world
ip netns exec "$req" omerta-vpnserve up --job bkrn --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/job.conf"

bare bare-deb poweroff
bare bare-own reboot
boot() { # boot KERNEL CPIO OUT
	cp "$2" "$t/b.cpio"
	a=$(ms)
	omerta-vmboot --kernel "$1" --initrd "$t/b.cpio" --no-network --timeout 60 >/dev/null 2>&1 || true
	echo $(($(ms) - a)) >>"$3"
}
job() { # job KERNEL NAME
	a=$(ms)
	ip netns exec "$prov" env OMERTA_KERNEL="$1" omerta execute --vpn-config "$t/job.conf" --script true --json >"$t/j.json"
	echo $(($(ms) - a)) >>"$t/$2.job"
	jq -r 'select(.event=="result").timings_ms.boot_to_vpn_up' "$t/j.json" >>"$t/$2.vpn"
	jq -r 'select(.event=="exited").guest_ms | "\(.kernel) \(.boot - .kernel) \(.killswitch - .modules) \(.eth0 - .killswitch) \(.wg - .eth0) \(.vpn_up - .wg)"' "$t/j.json" >>"$t/$2.guest"
}
# rogue KERNEL NAME: a root workload that flushes the kill switch and connects
# straight out; its detection_ms (first rogue frame to QEMU gone).
flush=$(sh tests/lib/nft-flush.sh)
rogue() {
	ip netns exec "$prov" env OMERTA_KERNEL="$1" omerta execute --vpn-config "$t/job.conf" --root --json \
		--script "$flush; "'ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null' \
		>"$t/r.json" || true
	jq -r 'select(.event=="rogue_connection").detection_ms' "$t/r.json" >>"$t/$2.detect"
}
for _ in $(seq "$n"); do
	boot "$deb" "$t/bare-deb.cpio" "$t/deb.bare"
	boot "$mine" "$t/bare-own.cpio" "$t/own.bare"
	job "$deb" deb
	job "$mine" own
	rogue "$deb" deb
	rogue "$mine" own
done

med() { sort -n "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s", m}'; }
rng() { sort -n "$1" | awk '{v[NR]=$1} END{printf "%s-%s", v[1], v[NR]}'; }
col() { cut -d' ' -f"$2" "$1" >"$t/col" && med "$t/col"; }
echo "### omerta's own guest kernel against Debian's, $n rounds, interleaved"
echo
echo "Debian's: $(basename "$deb") ($(stat -c %s "$deb") bytes, with its modules); own:"
echo "$(basename "$mine") ($(stat -c %s "$mine") bytes, no modules; share/kernel/guest.config)."
echo
echo "| ms (median, range) | Debian's kernel | own kernel | own / Debian's |"
echo "|---|---|---|---|"
for r in "bare boot:bare" "job, omerta execute --script true:job" "  of which QEMU start to vpn_up:vpn" \
	"detection_ms, a root workload around the tunnel:detect"; do
	label=${r%:*} f=${r##*:}
	d=$(med "$t/deb.$f") o=$(med "$t/own.$f")
	echo "| $label | $d ($(rng "$t/deb.$f")) | $o ($(rng "$t/own.$f")) | $(awk -v o="$o" -v d="$d" 'BEGIN{printf "%.2f", o / d}') |"
done
echo
jo=$(med "$t/own.job") bd=$(med "$t/deb.bare") vo=$(med "$t/own.vpn") vd=$(med "$t/deb.vpn")
echo "Own job / Debian's bare boot: $(awk -v a="$jo" -v b="$bd" 'BEGIN{printf "%.2f", a / b}') (the bound: 0.6)."
echo "Own QEMU start to vpn_up / Debian's: $(awk -v a="$vo" -v b="$vd" 'BEGIN{printf "%.2f", a / b}') (the bound: 0.5)."
echo
echo "Guest phases, medians (ms): kernel to /init, /init to channels (Debian's: its modules),"
echo "kill switch, eth0, wg, verify (vpn_up):"
for k in deb own; do
	printf -- '- %s:' "$([ "$k" = deb ] && echo "Debian's" || echo own)"
	for i in 1 2 3 4 5 6; do printf ' %s' "$(col "$t/$k.guest" "$i")"; done
	echo
done
