#!/bin/sh
# make bench: what exists, measured side by side, written to
# bench/results/<date>-<host>.md. Method: bench/README.md.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, VMs)" >&2; exit 1; }
N=${BENCH_RUNS:-20}
JOBS=${BENCH_JOBS:-5}
ROGUE=${BENCH_ROGUE:-10}
tag=bench$$
export OMERTA_RUN_DIR="${TMPDIR:-/tmp}/omerta-bench-$$"
export PATH="$PWD/bin:$PATH"
mkdir -m 700 "$OMERTA_RUN_DIR"
req=omt-$tag-req prov=omt-$tag-prov
out=bench/results/$(date +%F)-$(hostname -s).md
t=$(mktemp -d)
cleanup() {
	ip netns exec "$req" omerta-vpnserve down --job bj >/dev/null 2>&1 || true
	ip netns exec "$req" omerta-vpnserve gc >/dev/null 2>&1 || true
	ip netns exec "$prov" omerta gc >/dev/null 2>&1 || true
	sh tests/lib/world.sh down "$tag"
	rm -rf "$OMERTA_RUN_DIR" "$t"
}
trap cleanup EXIT
sh tests/lib/world.sh up "$tag"
kernel=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)

ms() { echo $(($(date +%s%N) / 1000000)); }
# stats FILE: "median min max" of one number a line
stats() { sort -n "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s %s %s", m, v[1], v[NR]}'; }
row() { # row FILE LABEL
	# shellcheck disable=SC2046
	set -- $(stats "$1") "$2"
	echo "| $4 | $1 | $2 | $3 |"
}

# Tools without a VM.
for i in $(seq "$N"); do
	a=$(ms)
	ip netns exec "$req" omerta-vpnserve up --job "b$i" --endpoint-host 198.51.100.1 --owner $$ >"$t/conf"
	b=$(ms)
	ip netns exec "$req" omerta-vpnserve down --job "b$i"
	c=$(ms)
	echo $((b - a)) >>"$t/up"
	echo $((c - b)) >>"$t/down"
	a=$(ms)
	omerta-wgconf check --allow-private-endpoint "$t/conf"
	b=$(ms)
	echo $((b - a)) >>"$t/check"
	a=$(ms)
	ip netns exec "$req" sh -c 'wireguard-go omtbench0 >/dev/null 2>&1 && ip link del omtbench0'
	rm -f /var/run/wireguard/omtbench0.sock
	b=$(ms)
	echo $((b - a)) >>"$t/wggo"
done

# The whole job against a bare boot of the same kernel, same QEMU, same machine type:
# a busybox /init that only powers off, no network.
mkdir -p "$t/bare/bin" "$t/bare/dev"
cp /bin/busybox "$t/bare/bin/"
printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' >"$t/bare/init"
chmod 755 "$t/bare/init"
(cd "$t/bare" && find . | cpio -o -H newc 2>/dev/null) >"$t/bare.cpio"
ip netns exec "$req" omerta-vpnserve up --job bj --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/job.conf"
omerta-mkinitrd --vpn-config "$t/job.conf" --script true -o "$t/warm.img" >/dev/null
for i in $(seq "$JOBS"); do
	cp "$t/bare.cpio" "$t/bare$i.cpio"
	a=$(ms)
	omerta-vmboot --kernel "$kernel" --initrd "$t/bare$i.cpio" --no-network >/dev/null 2>&1 || true
	b=$(ms)
	echo $((b - a)) >>"$t/bare.ms"
	a=$(ms)
	ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --script true --json >"$t/job$i.json"
	b=$(ms)
	echo $((b - a)) >>"$t/job"
	jq -r 'select(.event=="result").timings_ms.boot_to_vpn_up' "$t/job$i.json" >>"$t/boot_vpn"
	jq -r 'select(.event=="result").timings_ms.image' "$t/job$i.json" >>"$t/image"
	jq -r 'select(.event=="exited").guest_ms | "\(.modules) \(.killswitch - .modules) \(.eth0 - .killswitch) \(.wg - .eth0) \(.vpn_up - .wg) \(.exit - .workload_start)"' "$t/job$i.json" >>"$t/guest"
done

# Detection: root workloads that go around the tunnel.
for i in $(seq "$ROGUE"); do
	ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --root --json \
		--script 'nft flush ruleset; ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null' \
		>"$t/rogue$i.json" || true
	jq -r 'select(.event=="rogue_connection").detection_ms' "$t/rogue$i.json" >>"$t/detect"
done

# Tunnel death to VM stopped, and the watcher's CPU while a job idles.
ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --script 'sleep 40' --json >"$t/idle.json" &
e=$!
while ! grep -q '"event":"vpn_up"' "$t/idle.json" 2>/dev/null; do sleep 0.2; done
w=$(pgrep -x omerta-watch | head -n 1)
cpu0=$(awk '{print $14 + $15}' "/proc/$w/stat")
sleep 20
cpu1=$(awk '{print $14 + $15}' "/proc/$w/stat")
idle_ms=$(((cpu1 - cpu0) * 1000 / $(getconf CLK_TCK)))
kill -9 "$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/bj/state")"
k=$(ms)
wait "$e" || true
death=$(($(ms) - k))

{
	echo "# omerta bench, $(date -u '+%F %H:%M UTC'), $(hostname -s)"
	echo
	echo "$(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), host kernel $(uname -r),"
	echo "guest kernel ${kernel##*/vmlinuz-}, $(qemu-system-x86_64 --version | head -n 1), accel: $(grep -qE ' (vmx|svm)' /proc/cpuinfo && [ -r /dev/kvm ] && echo kvm || echo tcg)."
	echo "Milliseconds: median, min, max. Shared, noisy machine: compare ratios within one run."
	echo
	echo "| measurement | median | min | max |"
	echo "|---|---|---|---|"
	row "$t/up" "omerta-vpnserve up (wireguard-go, keys, nft, state), $N runs"
	row "$t/down" "omerta-vpnserve down, $N runs"
	row "$t/wggo" "reference: bare wireguard-go start + ip link del, $N runs"
	row "$t/check" "omerta-wgconf check, $N runs"
	row "$t/bare.ms" "bare boot: same kernel, busybox init that powers off, $JOBS runs"
	row "$t/job" "whole job: omerta execute --script true, $JOBS runs"
	row "$t/boot_vpn" "  of which QEMU start to vpn_up"
	row "$t/image" "  of which the per-job image (warm cache)"
	row "$t/detect" "detection_ms: first rogue frame to QEMU gone, $ROGUE runs"
	echo
	# shellcheck disable=SC2046
	set -- $(stats "$t/job") && j=$1
	# shellcheck disable=SC2046
	set -- $(stats "$t/bare.ms") && b=$1
	echo "Whole job / bare boot (medians): $(awk -v j="$j" -v b="$b" 'BEGIN{printf "%.2f", j / b}')."
	echo
	echo "Guest timings, ms since the guest booted or between steps (medians of $JOBS runs):"
	i=1
	for name in "kernel and modules" "kill switch" eth0 wg "verify (vpn_up)" "workload (true)"; do
		cut -d' ' -f"$i" "$t/guest" >"$t/col"
		# shellcheck disable=SC2046
		set -- $(stats "$t/col")
		echo "- $name: $1"
		i=$((i + 1))
	done
	echo
	echo "Server killed (kill -9) to the VM stopped: $death ms (silence limit 10 s)."
	echo "omerta-watch CPU while a job idled 20 s: $idle_ms ms."
} >"$out"
cat "$out"
