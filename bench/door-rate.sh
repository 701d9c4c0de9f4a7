#!/bin/sh
# bench/door-rate.sh [TAG]: what an honest tunnel asks of the door, so that its
# default rate limits (omerta-jail(8): --rate, --handshake-rate) can be set far
# above it. A real job in a real jail with the limits off (--rate unlimited
# --handshake-rate unlimited) downloads 100 MiB from the internet host (busybox wget), and
# another uploads 10 MiB to its sink (busybox nc); from the door's once-a-second
# counters: the peak bytes and datagrams a second out of the VM (what the limits
# hold) and into it, the handshakes, and the guest's own transfer time.
# Prints a markdown section. With TAG, uses that test world (bench/run.sh's);
# without, makes its own. Needs root.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_down() {
	for j in rated rateu; do ip netns exec "$req" omerta-vpnserve down --job "$j" >/dev/null 2>&1 || true; done
	[ -z "${www:-}" ] || rm -f "$www/100m"
}
bench_start door-rate brate "$@"
www=${TMPDIR:-/tmp}/omt-world-$tag/www
bench_world
kernel=${OMERTA_KERNEL:-$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)}
# Sparse: 100 MiB of zeros that take no disk.
truncate -s 100M "$www/100m"

# job NAME SCRIPT: one job, limits off, the door's events in $t/NAME.jail.
job() {
	ip netns exec "$req" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/$1.conf"
	ep=$(omerta-wgconf show "$t/$1.conf" | awk -F'\t' '$1=="endpoint"{print $2}')
	pk=$(omerta-wgconf show "$t/$1.conf" | awk -F'\t' '$1=="peer_public_key"{print $2}')
	ip netns exec "$prov" omerta-mkinitrd --kernel "$kernel" --vpn-config "$t/$1.conf" --script "$2" -o "$t/$1.img"
	ip netns exec "$prov" omerta-jail run --job "$1" --endpoint "$ep" --mtu 1420 --peer-key "$pk" \
		--rate unlimited --handshake-rate unlimited --events-fd 5 -- \
		omerta-watch --events-fd 4 --vm-events-fd 3 -- \
		omerta-vmboot --kernel "$kernel" --initrd "$t/$1.img" --events-fd 3 --timeout 300 \
		4>"$t/$1.ev" 5>"$t/$1.jail" >"$t/$1.out" 2>"$t/$1.err" || true
	ip netns exec "$req" omerta-vpnserve down --job "$1" >/dev/null 2>&1 || true
}

# shellcheck disable=SC2016 # expanded in the guest
job rated 't0=$(cut -d" " -f1 /proc/uptime); n=$(wget -q -O - http://203.0.113.10/100m | wc -c); t1=$(cut -d" " -f1 /proc/uptime); echo "bytes $n secs $(echo "$t1 $t0" | awk "{print \$1 - \$2}")"'
# shellcheck disable=SC2016
job rateu 't0=$(cut -d" " -f1 /proc/uptime); n=$(head -c 10485760 /dev/zero | nc 203.0.113.10 5001); t1=$(cut -d" " -f1 /proc/uptime); echo "bytes $n secs $(echo "$t1 $t0" | awk "{print \$1 - \$2}")"'

# peaks NAME: "out_Bps out_pps in_Bps in_pps rate_drops handshakes" over the door's
# once-a-second counters (intervals under half a second, the last one written at
# the end, are left out).
peaks() {
	jq -rs '[.[] | select(.event == "door_stats")] as $s
		| [range(1; $s | length) as $i | ($s[$i].time_ms - $s[$i - 1].time_ms) as $dt | select($dt >= 500)
		   | {ob: (($s[$i].tx_bytes - $s[$i - 1].tx_bytes) * 1000 / $dt),
		      op: (($s[$i].tx_packets - $s[$i - 1].tx_packets) * 1000 / $dt),
		      ib: (($s[$i].rx_bytes - $s[$i - 1].rx_bytes) * 1000 / $dt),
		      ip: (($s[$i].rx_packets - $s[$i - 1].rx_packets) * 1000 / $dt)}] as $d
		| [($d | map(.ob) | max // 0), ($d | map(.op) | max // 0), ($d | map(.ib) | max // 0), ($d | map(.ip) | max // 0),
		   ($s | last | .rate_drops // 0), ([.[] | select(.event == "handshake")] | length)]
		| map(floor | tostring) | join(" ")' "$t/$1.jail"
}

# line NAME LABEL
line() {
	# shellcheck disable=SC2046
	set -- "$2" $(peaks "$1") $(sed -n 's/^bytes \([0-9]*\) secs \([0-9.]*\)$/\1 \2/p' "$t/$1.out")
	# label out_Bps out_pps in_Bps in_pps drops handshakes bytes secs
	awk -v l="$1" -v ob="$2" -v op="$3" -v ib="$4" -v ip="$5" -v dr="$6" -v hs="$7" -v n="${8:-0}" -v s="${9:-0}" 'BEGIN{
		printf "| %s | %d | %.1f | %.2f | %d | %.2f | %d | %d | %d |\n", l, n, s, (s > 0 ? n / s / 1048576 : 0), ob, ob / 1048576, op, hs, dr }'
}

echo "### The door's rate limits: what an honest tunnel needs ($(date -u '+%F %H:%M UTC'), $(hostname -s))"
echo
echo "$(nproc) cores, host kernel $(uname -r), guest kernel ${kernel##*/vmlinuz-}, accel: $(grep -qE ' (vmx|svm)' /proc/cpuinfo && [ -r /dev/kvm ] && echo kvm || echo tcg)."
echo "One job each, the door's limits off (--rate unlimited --handshake-rate unlimited); peaks over the door's once-a-second counters."
echo
echo "| job | bytes moved | guest s | MiB/s | peak out of the VM, B/s | = MiB/s | peak out, datagrams/s | handshakes | rate_drops |"
echo "|---|---|---|---|---|---|---|---|---|"
line rated "100 MiB download (busybox wget)"
line rateu "10 MiB upload (busybox nc)"
echo
for n in rated rateu; do
	# shellcheck disable=SC2046
	set -- $(peaks "$n")
	echo "- $n: peak into the VM $3 B/s ($(awk -v b="$3" 'BEGIN{printf "%.2f", b / 1048576}') MiB/s), $4 datagrams/s; watcher: $(jq -r 'select(.event=="watch_result").status' "$t/$n.ev")."
done
