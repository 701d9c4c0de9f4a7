#!/usr/bin/env bats
# omerta-watch on a real jail, a real VM and the test world's real WireGuard server.

load ../lib/common

setup_file() { world_up wt; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() { vm_teardown; }

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

image() { # image JOB [mkinitrd args...]
	local job=$1
	shift
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/$job.conf" -o "$T/$job.img" "$@"
}

# watched JOB [vmboot args]: events in $T/JOB.ev, output in $T/JOB.out and .err
watched() {
	local job=$1
	shift
	ip netns exec "$PROV" omerta-jail run --job "$job" --endpoint "$(endpoint_of "$job")" -- \
		omerta-watch --events-fd 4 --vm-events-fd 3 -- \
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/$job.img" --events-fd 3 --timeout 150 "$@" \
		4>"$T/$job.ev" >"$T/$job.out" 2>"$T/$job.err"
}

# The endpoint in JOB's client config (each job has its own server port).
endpoint_of() { omerta-wgconf show "$T/$1.conf" | awk -F'\t' '$1=="endpoint"{print $2}'; }

ev() { jq -r "select(.event==\"$2\") | $3" "$T/$1.ev"; }

@test "watch: a root workload that flushes its firewall and connects directly is killed within milliseconds" {
	vpn r1
	image r1 --root --script "$FLUSH; "'ip route replace default via 10.66.0.1 dev eth0; printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 203.0.113.10 80; sleep 5; echo survived'
	ip netns exec "$INET" tcpdump -i wan -n -w "$T/inet.pcap" 'host 192.0.2.2 or net 10.66.0.0/16' 2>/dev/null &
	tp=$!
	sleep 0.5
	run watched r1
	kill "$tp"
	wait "$tp" || true
	[ "$status" -eq 121 ]
	[ "$(ev r1 watch_result .status)" = rogue_connection_detected ]
	[ "$(ev r1 rogue_connection .source)" = tap ]
	[ "$(ev r1 rogue_connection .frame.dst)" = 203.0.113.10 ]
	[ "$(ev r1 rogue_connection .frame.dport)" = 80 ]
	[ "$(ev r1 rogue_connection .frame.protocol)" = tcp ]
	d=$(ev r1 rogue_connection .detection_ms)
	[ "$d" -ge 0 ]
	[ "$d" -lt 1000 ]
	# At most one frame left the guest before the kill.
	[ "$(ev r1 rogue_connection .frames_after)" -le 1 ]
	[ "$(cat "$T/r1.out")" != survived ]
	[ "$(tcpdump -r "$T/inet.pcap" -n 2>/dev/null | wc -l)" -eq 0 ]
}

@test "watch: killing the server mid-job stops the VM with vpn_disconnected inside the limit" {
	vpn d1
	image d1 --script 'sleep 90; echo survived'
	watched d1 &
	w=$!
	for _ in $(seq 100); do grep -q '"event":"vpn_up"' "$T/d1.ev" 2>/dev/null && break; sleep 0.2; done
	grep -q '"event":"vpn_up"' "$T/d1.ev"
	kill -9 "$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/d1/state")"
	killed=$(date +%s)
	st=0
	wait "$w" || st=$?
	took=$(($(date +%s) - killed))
	[ "$st" -eq 122 ]
	[ "$(ev d1 watch_result .status)" = vpn_disconnected ]
	# Documented: 10 s of silence, judged once a second; the issue allows 30 s.
	[ "$took" -le 15 ] || { echo "took $took s"; false; }
	[ ! -s "$T/d1.out" ]
}

@test "watch: a healthy job that idles 60 s on a live tunnel completes" {
	vpn i1
	image i1 --script 'sleep 60; echo idle-done; exit 9'
	run watched i1
	[ "$status" -eq 9 ]
	[ "$(cat "$T/i1.out")" = idle-done ]
	[ "$(ev i1 watch_result .status)" = completed ]
	[ "$(ev i1 watch_result .blocked_frames)" = 0 ]
}

@test "watch: a wrong server key means the workload never runs: vpn_setup_failed" {
	vpn k1
	sed -i "s|^PublicKey = .*|PublicKey = $(omerta-keygen --pair | cut -f2)|" "$T/k1.conf"
	image k1 --verify-tries 5 --script 'echo RAN'
	start=$(date +%s)
	run watched k1
	[ "$status" -eq 120 ]
	[ $(($(date +%s) - start)) -lt 60 ]
	[ ! -s "$T/k1.out" ]
	[ "$(ev k1 watch_result .status)" = vpn_setup_failed ]
	run ! grep -q '"event":"vpn_up"' "$T/k1.ev"
}

@test "watch: a guest that claims vpn_up with no handshake at the door is not believed" {
	vpn fk
	# A wrong server key: no handshake can ever complete.
	sed -i "s|^PublicKey = .*|PublicKey = $(omerta-keygen --pair | cut -f2)|" "$T/fk.conf"
	# A lying /init: it takes the real steps up to wg0 with the real helper, then
	# reports vpn_up without verifying, and idles.
	mkdir -p "$T/data/initramfs"
	cp "$OM_GUEST/omerta-guest" "$T/data/initramfs/"
	cat >"$T/data/initramfs/init" <<-'LIAR'
	#!/bin/sh
	PATH=/bin:/sbin:/usr/bin:/usr/sbin
	mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
	omerta-guest modules /lib/modules
	set -- $(omerta-guest ports omerta.ctl omerta.out omerta.err)
	ctl=$1
	while IFS='=' read -r k v; do
		case $k in guest_addr) ga=$v ;; tunnel_addrs) ta=$v ;; door) d=$v ;; door_port) dp=$v ;; esac
	done </etc/omerta/job
	omerta-guest killswitch "$d" "$dp" && omerta-guest net "$ga" &&
		omerta-guest wg /etc/omerta/wg.conf 1420 $(echo "$ta" | tr , ' ') &&
		echo "step name=wg t=3" >>"$ctl" && echo "vpn_up verify_ms=0 tries=1 t=4" >>"$ctl"
	sleep 30
	poweroff -f
	LIAR
	OMERTA_DATADIR=$T/data image fk --script 'echo RAN'
	run ip netns exec "$PROV" omerta-jail run --job fk --endpoint "$(endpoint_of fk)" -- \
		omerta-watch --setup-limit 10 --events-fd 4 --vm-events-fd 3 -- \
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/fk.img" --events-fd 3 --timeout 150 \
		4>"$T/fk.ev" >"$T/fk.out" 2>"$T/fk.err"
	cat "$T/fk.ev"
	[ "$status" -eq 120 ]
	[ "$(ev fk watch_result .status)" = vpn_setup_failed ]
	run ! grep -q '"event":"vpn_up"' "$T/fk.ev"
	[ ! -s "$T/fk.out" ]
	# The lying /init did run and got as far as wg0 (the claim was made).
	[ "$(ev fk exited .guest_ms.wg)" -gt 0 ]
}

@test "watch: an honest job using the tunnel hard raises no false alarm" {
	vpn h1
	image h1 --root --script '
		for i in 1 2 3; do printf "GET /1m HTTP/1.0\r\n\r\n" | nc -w 10 203.0.113.10 80 | wc -c; done
		ping -c 5 -W 2 10.200.0.1 | tail -n 2 | head -n 1
		nslookup example.com 203.0.113.10 >/dev/null 2>&1
		printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1'
	run watched h1
	cat "$T/h1.ev" "$T/h1.out"
	[ "$status" -eq 0 ]
	[ "$(ev h1 watch_result .status)" = completed ]
	[ "$(ev h1 watch_result .blocked_frames)" = 0 ]
	[ "$(grep -c '^1048[0-9][0-9][0-9]$' "$T/h1.out")" -eq 3 ]
	grep -q '5 packets transmitted, 5 packets received' "$T/h1.out"
	[ "$(tail -n 1 "$T/h1.out")" = 198.51.100.1 ]
}

@test "watch: a junk datagram at the door and a blocked unprivileged connection each end the job" {
	vpn g1
	# Unprivileged, around the tunnel to the gateway: the guest's kill switch drops it,
	# the guest reports it with its heartbeat, and the job ends.
	image g1 --script 'nc -w 2 10.66.0.1 22 </dev/null; sleep 20; echo survived'
	run watched g1
	cat "$T/g1.ev" "$T/g1.out"
	[ "$status" -eq 121 ]
	[ "$(ev g1 rogue_connection .source)" = guest ]
	[ "$(cat "$T/g1.out")" != survived ]
	vpn g2
	image g2 --language python --script 'import socket, time
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hello door", ("10.66.0.1", 51820))
time.sleep(20)
print("survived")'
	run watched g2 --memory 256
	cat "$T/g2.ev" "$T/g2.out" "$T/g2.err"
	[ "$status" -eq 121 ]
	[ "$(ev g2 rogue_connection .source)" = door ]
	grep -q '"rogue_datagram"' "$T/g2.ev"
}

@test "watch: killing the watcher kills the VM; without the door it refuses to start anything" {
	vpn w1
	image w1 --script 'sleep 90'
	watched w1 &
	w=$!
	for _ in $(seq 100); do grep -q '"event":"vpn_up"' "$T/w1.ev" 2>/dev/null && break; sleep 0.2; done
	qpid=$(ev w1 started .pid)
	[ -d "/proc/$qpid" ]
	kill -9 "$(pgrep -x omerta-watch)"
	for _ in $(seq 50); do [ -d "/proc/$qpid" ] || break; sleep 0.1; done
	[ ! -d "/proc/$qpid" ]
	wait "$w" || true
	# Not armed: no door events outside a jail, so CMD never runs.
	run ip netns exec "$PROV" omerta-watch --json --vm-events-fd 3 -- touch "$T/ran"
	[ "$status" -eq 125 ]
	[ ! -e "$T/ran" ]
}
