#!/bin/sh
# make bench: what exists, measured side by side, written to
# bench/results/<date>-<host>.md. Method: bench/README.md.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, VMs)" >&2; exit 1; }
N=${BENCH_RUNS:-20}
JOBS=${BENCH_JOBS:-5}
ROGUE=${BENCH_ROGUE:-10}
tag=bench$$
export OMERTA_RUN_DIR="${TMPDIR:-/tmp}/omerta-bench-$$"
export PATH="$PWD/bin:$PATH"
mkdir -m 700 "$OMERTA_RUN_DIR"
req=omt-$tag-req prov=omt-$tag-prov inet=omt-$tag-inet
out=bench/results/$(date +%F)-$(hostname -s).md
t=$(mktemp -d)
cleanup() {
	ip netns exec "$req" omerta-vpnserve down --job bj >/dev/null 2>&1 || true
	ip netns exec "$req" omerta-vpnserve gc >/dev/null 2>&1 || true
	ip netns exec "$prov" omerta gc >/dev/null 2>&1 || true
	for i in 1 2 3 4 5 6 7 8; do ip netns exec "$req" omerta-vpnserve down --job "cc$i" >/dev/null 2>&1 || true; done
	ip netns del "omt-$tag-vmd" 2>/dev/null || true
	ip netns del "omt-$tag-dd" 2>/dev/null || true
	ip netns exec "$req" omerta-vpnserve down --job door >/dev/null 2>&1 || true
	[ ! -f "$t/iperf.pid" ] || kill "$(cat "$t/iperf.pid")" 2>/dev/null || true
	sh tests/lib/world.sh down "$tag"
	rm -rf "$OMERTA_RUN_DIR" "$t"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
sh tests/lib/world.sh up "$tag"
kernel=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
# Debian's kernel for every section but bench/kernel.sh's, also once make kernel has
# built omerta's own (jobs would boot that one by themselves).
export OMERTA_KERNEL="$kernel"

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
bare bare poweroff
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
	jq -r 'select(.event=="exited").guest_ms | "\(.kernel) \(.boot - .kernel) \(.killswitch - .modules) \(.eth0 - .killswitch) \(.wg - .eth0) \(.vpn_up - .wg) \(.exit - .workload_start)"' "$t/job$i.json" >>"$t/guest"
done

# Detection: root workloads that go around the tunnel (they bring their own nft flush).
flush=$(sh tests/lib/nft-flush.sh)
for i in $(seq "$ROGUE"); do
	ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --root --json \
		--script "$flush; "'ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null' \
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
# The killed server's files go; a fresh server for what follows.
ip netns exec "$req" omerta-vpnserve gc >/dev/null 2>&1 || true
ip netns exec "$req" omerta-vpnserve up --job bj --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/job.conf"

# Memory: peak RSS (VmHWM) of QEMU and of each omerta process of one job at --memory 128.
hwm() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null; }
ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --script 'sleep 4' --json >"$t/mem.json" &
e=$!
: >"$t/hwm"
while kill -0 "$e" 2>/dev/null; do
	for name in qemu-system-x86 omerta-jail omerta-watch omerta-vmboot; do
		for p in $(pgrep -x "$name"); do echo "$name $(hwm "$p")" >>"$t/hwm"; done
	done
	sleep 0.2
done
wait "$e" || true
peak() { awk -v n="$1" '$1==n && $2>m{m=$2} END{print m+0}' "$t/hwm"; }
# The smallest --memory that works (execute's floor is 64 MiB).
smallest=none
for m in 64 96; do
	if ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --memory "$m" --script true >/dev/null 2>&1; then
		smallest=$m
		break
	fi
done
# TCG's translation buffer: the bare image booted by QEMU directly, RSS and time, with
# omerta-vmboot's CPU and command line (without tsc_early_khz the guest can hang for
# good calibrating its TSC; one did here, once the boot got faster).
: >"$t/tb"
mhz=$(awk -F: '/^cpu MHz/{print int($2); exit}' /proc/cpuinfo)
for tb in 32 128 512; do
	cp "$t/bare.cpio" "$t/tb.cpio"
	a=$(ms)
	/usr/bin/time -f '%M' -o "$t/tb.rss" timeout 60 qemu-system-x86_64 -M microvm -nodefaults -no-user-config \
		-display none -accel "tcg,tb-size=$tb" -cpu max,erms=off,fsrm=off -m 128 -kernel "$kernel" -initrd "$t/tb.cpio" \
		-append "console=ttyS0 quiet panic=-1 ipv6.disable=1 cryptomgr.notests=1 tsc_early_khz=${mhz}000" \
		-no-reboot >/dev/null 2>&1 || true
	b=$(ms)
	echo "$tb $(cat "$t/tb.rss") $((b - a))" >>"$t/tb"
done

# Concurrency: 1, 2, 4 and 8 jobs at once, each through its own tunnel.
for i in 1 2 3 4 5 6 7 8; do
	ip netns exec "$req" omerta-vpnserve up --job "cc$i" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/cc$i.conf"
done
: >"$t/conc"
for n in 1 2 4 8; do
	a=$(ms)
	pids=
	for i in $(seq "$n"); do
		# CPU (user + system, every process of the job, QEMU included) and the
		# largest peak RSS among them, from wait4's rusage.
		ip netns exec "$prov" /usr/bin/time -o "$t/cc$n-$i.time" -f '%U %S %M' \
			omerta execute --vpn-config "$t/cc$i.conf" --script true --json >"$t/cc$n-$i.json" &
		pids="$pids $!"
	done
	ok=0
	for p in $pids; do wait "$p" && ok=$((ok + 1)); done
	b=$(ms)
	per=$(for i in $(seq "$n"); do jq -r 'select(.event=="result").timings_ms.total' "$t/cc$n-$i.json"; done | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
	cpu=$(for i in $(seq "$n"); do awk '{printf "%d\n", ($1 + $2) * 1000}' "$t/cc$n-$i.time"; done | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
	rss=$(for i in $(seq "$n"); do awk '{print $3}' "$t/cc$n-$i.time"; done | sort -n | tail -n 1)
	echo "$n $((b - a)) $per $ok $cpu $rss" >>"$t/conc"
done
for i in 1 2 3 4 5 6 7 8; do ip netns exec "$req" omerta-vpnserve down --job "cc$i"; done

# Throughput and latency from inside the VM: through the tunnel (a normal job) against
# the same kernel and base with eth0 routed straight out (no kill switch, no wg0; a
# bench-only /init, in a bench-only namespace, never a job).
# shellcheck disable=SC2016 # expanded in the guest
probe='t0=$(cut -d" " -f1 /proc/uptime); for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O /dev/null http://203.0.113.10/1m; done; t1=$(cut -d" " -f1 /proc/uptime); head -c 10485760 /dev/zero >/tmp/up; t2=$(cut -d" " -f1 /proc/uptime); nc 203.0.113.10 5001 </tmp/up >/dev/null; t3=$(cut -d" " -f1 /proc/uptime); rtt=$(ping -c 10 -i 0.2 -q 203.0.113.10 | sed -n "s|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p"); echo "down $t0 $t1 up $t2 $t3 rtt $rtt"'
ip netns exec "$prov" omerta execute --vpn-config "$t/job.conf" --root --timeout 300 --script "$probe" >"$t/tp.tunnel" 2>&1 || true
vmd=omt-$tag-vmd
mkdir -p "$t/data/initramfs"
cp initramfs/omerta-guest "$t/data/initramfs/"
cp bench/direct-init "$t/data/initramfs/init"
OMERTA_DATADIR=$t/data omerta-mkinitrd --vpn-config "$t/job.conf" --root --script "$probe" -o "$t/direct.img" --allow-private-endpoint >/dev/null
# uplinked NS N: a bench-only namespace with a veth "wan" to the test world's router,
# 198.18.N.2/24, default route through it.
uplinked() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip link add "omtb$2" type veth peer name wan netns "$1"
	ip link set "omtb$2" netns "omt-$tag-wan"
	ip -n "omt-$tag-wan" addr add "198.18.$2.254/24" dev "omtb$2"
	ip -n "omt-$tag-wan" link set "omtb$2" up
	ip -n "$1" addr add "198.18.$2.2/24" dev wan
	ip -n "$1" link set wan up
	ip -n "$1" route add default via "198.18.$2.254"
}
uplinked "$vmd" 5
ip -n "$vmd" tuntap add tap0 mode tap user 65534
ip -n "$vmd" addr add 10.66.0.1/24 dev tap0
ip -n "$vmd" link set tap0 up
ip netns exec "$vmd" sysctl -qw net.ipv4.ip_forward=1
printf 'table ip omtb {\n chain p {\n  type nat hook postrouting priority srcnat;\n  oifname "wan" masquerade\n }\n}\n' |
	ip netns exec "$vmd" nft -f -
ip netns exec "$vmd" omerta-vmboot --kernel "$kernel" --initrd "$t/direct.img" --tap tap0 --timeout 300 >"$t/tp.direct" 2>&1 || true
ip netns del "$vmd"
# The door's own cost, apart from the guest's crypto: a host-side wireguard-go client
# with iperf3, once in a namespace with a veth straight to the router, once inside a
# real jail, talking to its door over lo (the door takes it for the guest: 10.66.0.2
# is given to lo and made the source for the door's address).
ip netns exec "$req" omerta-vpnserve up --job door --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/door.conf"
omerta-wgconf setconf --allow-private-endpoint "$t/door.conf" >"$t/door.set"
caddr=$(omerta-wgconf show --allow-private-endpoint "$t/door.conf" | awk -F'\t' '$1=="address"{print $2}')
ep=$(omerta-wgconf show --allow-private-endpoint "$t/door.conf" | awk -F'\t' '$1=="endpoint"{print $2}')
pk=$(omerta-wgconf show --allow-private-endpoint "$t/door.conf" | awk -F'\t' '$1=="peer_public_key"{print $2}')
ip netns exec "$inet" iperf3 -s -B 203.0.113.10 -D -I "$t/iperf.pid" >/dev/null 2>&1 || true
# client NAME ENDPOINT: wireguard-go NAME in this namespace, to 203.0.113.10 only;
# then iperf3 both ways and ping; "up_Mbit down_Mbit rtt_ms" into $t/door.NAME.
cat >"$t/client.sh" <<'CLIENT'
set -eu
n=$1 ep=$2 t=$3 caddr=$4
WG_PROCESS_FOREGROUND=1 wireguard-go "$n" >/dev/null 2>&1 &
w=$!
for _ in $(seq 100); do wg show "$n" >/dev/null 2>&1 && break; sleep 0.05; done
sed "s|^Endpoint = .*|Endpoint = $ep|" "$t/door.set" >"$t/$n.set"
wg setconf "$n" "$t/$n.set"
ip addr add "$caddr" dev "$n"
ip link set "$n" mtu 1420 up
ip route add 203.0.113.10/32 dev "$n"
ping -c 3 -W 2 -q 203.0.113.10 >/dev/null 2>&1 || true
up=$(iperf3 -c 203.0.113.10 -t 4 -J | jq '.end.sum_received.bits_per_second / 1e6')
down=$(iperf3 -c 203.0.113.10 -t 4 -R -J | jq '.end.sum_received.bits_per_second / 1e6')
rtt=$(ping -c 10 -i 0.2 -q 203.0.113.10 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
printf '%.0f %.0f %s\n' "$up" "$down" "$rtt" >"$t/door.$n"
kill "$w"
wait "$w" || true
CLIENT
dd=omt-$tag-dd
uplinked "$dd" 6
ip netns exec "$dd" sh "$t/client.sh" omtddwg "$ep" "$t" "$caddr" || true
ip netns del "$dd"
rm -f /var/run/wireguard/omtddwg.sock
# shellcheck disable=SC2016 # expanded by the inner sh
ip netns exec "$prov" omerta-jail run --job doorbench --endpoint "$ep" --peer-key "$pk" --allow-private-endpoint -- \
	sh -c 'ip addr add 10.66.0.2/32 dev lo &&
		ip route replace local 10.66.0.1 dev tap0 table local src 10.66.0.2 &&
		sh "$0/client.sh" omtdrwg 10.66.0.1:51820 "$0" "$1"' "$t" "$caddr" >/dev/null 2>&1 || true
rm -f /var/run/wireguard/omtdrwg.sock
kill "$(cat "$t/iperf.pid" 2>/dev/null)" 2>/dev/null || true
ip netns exec "$req" omerta-vpnserve down --job door

# What an honest tunnel asks of the door's rate limits: a 100 MiB download and a
# 10 MiB upload with the limits off (bench/door-rate.sh), in this world.
sh bench/door-rate.sh "$tag" >"$t/door-rate.md" 2>"$t/door-rate.err" || cat "$t/door-rate.err" >&2
# Files in and out (bench/files.sh: --input, --output, stdout and a host cp of the same
# BENCH_FILES_MIB) and what an image costs a job (bench/images.sh), in this world.
sh bench/files.sh "$tag" >"$t/files.md" 2>"$t/files.err" || cat "$t/files.err" >&2
sh bench/images.sh "$tag" >"$t/images.md" 2>"$t/images.err" || cat "$t/images.err" >&2
# omerta's own guest kernel against Debian's (bench/kernel.sh), when linux-source is
# there to build it from (make kernel; a lookup once built).
if ls /usr/src/linux-source-*.tar.xz >/dev/null 2>&1; then
	sh bench/kernel.sh "$tag" >"$t/kernel.md" 2>"$t/kernel.err" || cat "$t/kernel.err" >&2
else
	echo "(omerta's own kernel: not measured, no linux-source-6.1 to build it from)" >"$t/kernel.md"
fi
# What provider mode costs a job (bench/provide.sh: local against a provider's account).
sh bench/provide.sh "$tag" >"$t/provide.md" 2>"$t/provide.err" || cat "$t/provide.err" >&2

tput() { # tput FILE: "down_MBps up_MBps rtt_ms"
	awk '/^down/{d=$3-$2; u=$6-$5; printf "%.1f %.1f %s", (d>0?10/d:0), (u>0?10/u:0), $8}' "$1"
}

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
	for name in "kernel (to /init)" "modules and channels" "kill switch" eth0 wg "verify (vpn_up)" "workload (true)"; do
		cut -d' ' -f"$i" "$t/guest" >"$t/col"
		# shellcheck disable=SC2046
		set -- $(stats "$t/col")
		echo "- $name: $1"
		i=$((i + 1))
	done
	echo
	echo "Server killed (kill -9) to the VM stopped: $death ms (silence limit 10 s)."
	echo "omerta-watch CPU while a job idled 20 s: $idle_ms ms."
	echo
	echo "Memory, one job at --memory 128 (peak RSS, VmHWM): QEMU $(peak qemu-system-x86) kB,"
	echo "omerta-jail $(peak omerta-jail) kB, omerta-watch $(peak omerta-watch) kB, omerta-vmboot $(peak omerta-vmboot) kB."
	echo "Smallest --memory that works: $smallest MiB."
	echo
	echo "TCG translation buffer (bare image, QEMU directly): tb-size MiB, peak RSS kB, wall ms:"
	awk '{print "- " $1 ": " $2 " kB, " $3 " ms"}' "$t/tb"
	echo
	echo "Concurrency (each job through its own tunnel, --script true):"
	echo
	echo "| jobs at once | wall for all, ms | median per-job total, ms | completed | median CPU per job, ms | largest peak RSS, kB |"
	echo "|---|---|---|---|---|---|"
	awk '{print "| " $1 " | " $2 " | " $3 " | " $4 " | " $5 " | " $6 " |"}' "$t/conc"
	echo
	# shellcheck disable=SC2046
	set -- $(tput "$t/tp.tunnel") $(tput "$t/tp.direct")
	echo "Throughput from inside the VM (busybox wget of 10 x 1 MiB down, nc of 10 MiB up,"
	echo "ping RTT), through the tunnel and the door vs the same VM routed straight out:"
	echo
	echo "| path | down MiB/s | up MiB/s | RTT ms |"
	echo "|---|---|---|---|"
	echo "| tunnel (WireGuard in the guest, the door, wireguard-go) | ${1:-?} | ${2:-?} | ${3:-?} |"
	echo "| direct (no tunnel, bench-only) | ${4:-?} | ${5:-?} | ${6:-?} |"
	echo
	# shellcheck disable=SC2046
	set -- $(cat "$t/door.omtddwg" 2>/dev/null) $(cat "$t/door.omtdrwg" 2>/dev/null)
	echo "The door's own cost: a host-side wireguard-go client and iperf3 (4 s each way)"
	echo "to the internet host, through the same requester server:"
	echo
	echo "| path | client to server Mbit/s | server to client Mbit/s | RTT ms |"
	echo "|---|---|---|---|"
	echo "| veth straight to the router | ${1:-?} | ${2:-?} | ${3:-?} |"
	echo "| through a jail's door | ${4:-?} | ${5:-?} | ${6:-?} |"
	echo
	cat "$t/door-rate.md"
	echo
	cat "$t/files.md" 2>/dev/null
	echo
	cat "$t/images.md" 2>/dev/null
	echo
	cat "$t/provide.md" 2>/dev/null
	echo
	cat "$t/kernel.md" 2>/dev/null
} >"$out"
cat "$out"
