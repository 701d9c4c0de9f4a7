#!/usr/bin/env bats
# omerta-jail and omerta-vmboot: a real VM in a real jail, against the test world's
# requester (omerta-vpnserve) and internet host.

load ../lib/common

setup_file() { world_up jl; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

# QEMU never outlives its job.
teardown() { vm_teardown; }

# vpn JOB: the requester's server for JOB; the client config lands in $T/JOB.conf
vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

# jailed JOB IMAGE [vmboot args...]: boots IMAGE in JOB's jail on the provider.
# Events: $T/JOB.jail (jail) and $T/JOB.vm (vmboot); output: $T/JOB.out, $T/JOB.err
jailed() {
	local job=$1 img=$2
	shift 2
	ip netns exec "$PROV" omerta-jail run --job "$job" --endpoint "$(endpoint_of "$job")" --events-fd 3 -- \
		sh -c 'ip -d link show tap0 >"$0.tuntap"; ip route show >"$0.routes"; exec "$@"' "$T/$job" \
		omerta-vmboot --kernel "$KERNEL" --initrd "$img" --events-fd 4 --console "$T/$job.console" --timeout 120 "$@" \
		3>"$T/$job.jail" 4>"$T/$job.vm" >"$T/$job.out" 2>"$T/$job.err"
}

# The endpoint in JOB's client config (each job has its own server port); a job
# without one uses the first server's.
endpoint_of() {
	if [ -f "$T/$1.conf" ]; then
		omerta-wgconf show "$T/$1.conf" | awk -F'\t' '$1=="endpoint"{print $2}'
	else
		echo 198.51.100.1:51820
	fi
}

provider_view() {
	ip -n "$PROV" route show
	ip -n "$PROV" -6 route show
	ip netns exec "$PROV" nft list ruleset
	ip netns exec "$PROV" sysctl -a 2>/dev/null | grep -E '^net\.(ipv4\.(ip_forward|conf\.(all|default|wan)\.)|ipv6\.conf\.(all|default|wan)\.)' | grep -v -E 'stable_secret|rp_filter'
}

@test "jail: the guest's tunnel comes up through the door; the internet host sees the requester" {
	vpn web
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/web.conf" -o "$T/web.img" \
		--script 'printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1; exit 3'
	provider_view >"$T/before"
	run jailed web "$T/web.img"
	[ "$status" -eq 3 ]
	[ "$(cat "$T/web.out")" = "198.51.100.1" ]
	provider_view >"$T/after"
	diff "$T/before" "$T/after"
	# The jail had one tap, owned by the unprivileged QEMU user, and no route out.
	grep -qE 'tun type tap .*user (65534|nobody) ' "$T/web.tuntap" || { cat "$T/web.tuntap"; false; }
	[ "$(grep -c . "$T/web.routes")" -eq 1 ]
	grep -q '^10.66.0.0/24 dev tap0' "$T/web.routes"
	# The door saw the handshake and traffic both ways; the VM reported vpn_up.
	grep -q '"event":"handshake"' "$T/web.jail"
	[ "$(grep door_stats "$T/web.jail" | tail -n 1 | jq .rx_packets)" -gt 0 ]
	[ "$(jq -r 'select(.event=="exited").status' "$T/web.vm")" = completed ]
	grep -q '"event":"vpn_up"' "$T/web.vm"
	[ "$(jq -r 'select(.event=="started").accel' "$T/web.vm")" = tcg ]
}

@test "jail: every way around the door is dropped at the tap and logged to NFLOG; nothing leaves" {
	vpn evil
	cat >"$T/evil.py" <<-'PY'
	import socket, subprocess
	def sh(c):
	    subprocess.call(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	def tcp(host, port):
	    s = socket.socket()
	    s.settimeout(1.5)
	    try:
	        s.connect((host, port))
	        print("connected", host, port)
	    except OSError:
	        pass
	# Root flushes the guest's kill switch and routes around the tunnel.
	sh("@FLUSH@; ip route replace default via 10.66.0.1 dev eth0")
	tcp("203.0.113.10", 80)                       # the internet host, directly
	tcp("10.66.0.1", 22)                          # the gateway itself
	sh("arping -c 1 -w 1 -I eth0 10.66.0.7")      # ARP for another address
	u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	u.sendto(b"not wireguard", ("10.66.0.1", 51820))  # junk to the door
	sh("ip addr add 10.66.0.9/24 dev eth0")
	v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	v.bind(("10.66.0.9", 0))
	v.sendto(bytes([1, 0, 0, 0]) + bytes(144), ("10.66.0.1", 51820))  # spoofed source IP
	print("done")
	PY
	python3 -c 'import sys; s = open(sys.argv[1]).read(); open(sys.argv[1], "w").write(s.replace("@FLUSH@", sys.argv[2]))' \
		"$T/evil.py" "$FLUSH"
	grep -q 'base64 -d' "$T/evil.py"
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/evil.conf" --root --language python \
		--script-file "$T/evil.py" -o "$T/evil.img"
	ip netns exec "$INET" tcpdump -i wan -n -w "$T/inet.pcap" 2>/dev/null &
	tin=$!
	ip netns exec "$PROV" tcpdump -i wan -n -w "$T/prov.pcap" 2>/dev/null &
	tprov=$!
	sleep 1
	run ip netns exec "$PROV" omerta-jail run --job evil --endpoint 198.51.100.1:51820 --events-fd 3 -- \
		sh -c 'tcpdump -i nflog:1 -n -w "$0" 2>/dev/null & t=$!; sleep 1; omerta-vmboot "$@"; r=$?; sleep 1; kill $t; wait $t; exit $r' \
		"$T/nflog.pcap" --kernel "$KERNEL" --initrd "$T/evil.img" --memory 256 --timeout 120 \
		3>"$T/evil.jail"
	sleep 0.5
	kill "$tin" "$tprov"
	wait "$tin" "$tprov" || true
	show
	[ "$status" -eq 0 ]
	[[ "$output" == *done* ]]
	[[ "$output" != *connected* ]]
	tcpdump -r "$T/nflog.pcap" -n -X 2>/dev/null >"$T/nflog.txt"
	# The group holds each attempt: TCP to the internet host and to the gateway,
	# the ARP probe, the spoofed datagram.
	[ "$(grep -c 'version 0, resource ID 1' "$T/nflog.txt")" -ge 4 ]
	grep -q 'cb00 710a' "$T/nflog.txt"                 # 203.0.113.10
	grep -q '0a42 0001 .... 0016' "$T/nflog.txt"       # 10.66.0.1:22
	grep -q '0a42 0007' "$T/nflog.txt"                 # ARP for 10.66.0.7
	grep -q '0a42 0009' "$T/nflog.txt"                 # from 10.66.0.9
	# The junk datagram reached the door, which refused to relay it.
	[ "$(jq -r 'select(.event=="rogue_datagram").reason' "$T/evil.jail" | head -n 1)" = "not a WireGuard datagram" ]
	# Nothing reached the internet host; the provider's uplink carried only the tunnel.
	# (The internet host's own ARP with its router is not ours.)
	local own='not (arp and host 203.0.113.1 and host 203.0.113.10)'
	[ "$(tcpdump -r "$T/inet.pcap" -n "$own" 2>/dev/null | wc -l)" -eq 0 ] || { tcpdump -r "$T/inet.pcap" -n; false; }
	[ "$(tcpdump -r "$T/prov.pcap" -n 'not (udp and host 198.51.100.1 and port 51820) and not arp' 2>/dev/null | wc -l)" -eq 0 ]
}

@test "jail: teardown after failure, after SIGTERM, and after kill -9 then down or gc" {
	# CMD fails: the jail still goes.
	run ip netns exec "$PROV" omerta-jail run --job f1 --endpoint 198.51.100.1:51820 -- false
	[ "$status" -eq 1 ]
	[ ! -e /run/netns/omerta-f1 ]
	# SIGTERM while the VM runs.
	vpn t1
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/t1.conf" --script 'sleep 60' -o "$T/t1.img"
	jailed t1 "$T/t1.img" &
	j=$!
	for _ in $(seq 100); do grep -q vpn_up "$T/t1.vm" 2>/dev/null && break; sleep 0.2; done
	grep -q vpn_up "$T/t1.vm"
	jpid=$(pgrep -f -- 'omerta-jail run --job t1 ')
	kill -TERM "$jpid"
	st=0
	wait "$j" || st=$?
	[ "$st" -ne 0 ]
	[ ! -e /run/netns/omerta-t1 ]
	[ -z "$(pgrep -x qemu-system-x86)" ]
	# kill -9 of the jail: QEMU dies with it; down removes the rest.
	jailed t2 "$T/t1.img" &
	j=$!
	for _ in $(seq 100); do grep -q vpn_up "$T/t2.vm" 2>/dev/null && break; sleep 0.2; done
	grep -q vpn_up "$T/t2.vm"
	jpid=$(pgrep -f -- 'omerta-jail run --job t2 ')
	kill -9 "$jpid"
	wait "$j" || true
	for _ in $(seq 50); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	[ -z "$(pgrep -x qemu-system-x86)" ]
	[ -e /run/netns/omerta-t2 ]
	ip netns exec "$PROV" omerta-jail down --job t2
	[ ! -e /run/netns/omerta-t2 ]
	[ ! -e "$OMERTA_RUN_DIR/jail/t2" ]
	# And once more, collected by gc.
	jailed t3 "$T/t1.img" &
	j=$!
	for _ in $(seq 100); do grep -q vpn_up "$T/t3.vm" 2>/dev/null && break; sleep 0.2; done
	grep -q vpn_up "$T/t3.vm"
	kill -9 "$(pgrep -f -- 'omerta-jail run --job t3 ')"
	wait "$j" || true
	for _ in $(seq 50); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	[ -z "$(pgrep -x qemu-system-x86)" ]
	run ip netns exec "$PROV" omerta-jail gc
	[ "$output" = "$(printf 'removed\tt3')" ]
	[ ! -e /run/netns/omerta-t3 ]
}

@test "jail: bad input is refused before any side effect" {
	while IFS='|' read -r code args; do
		# shellcheck disable=SC2086
		run --separate-stderr ip netns exec "$PROV" omerta-jail run $args -- true
		[ "$status" -eq "$code" ] || { echo "$args -> $status: $stderr"; false; }
		[[ "$stderr" == omerta-jail:* ]]
	done <<-EOF
	1|--job a/b --endpoint 198.51.100.1:51820
	1|--job ok --endpoint 10.0.0.1:51820
	1|--job ok --endpoint 127.0.0.1:51820
	1|--job ok --endpoint 192.0.2.77:51820
	1|--job ok --endpoint vpn.example.com:51820
	1|--job ok --endpoint 198.51.100.1
	1|--job ok --endpoint 198.51.100.1:51820 --uid 0
	1|--job ok --endpoint 198.51.100.1:51820 --guest-ip 10.67.0.2
	1|--job ok --endpoint 198.51.100.1:51820 --guest-mac 01:00:5e:00:00:01
	1|--job ok --endpoint 198.51.100.1:51820 --rate 0
	1|--job ok --endpoint 198.51.100.1:51820 --events-fd 99
	2|--endpoint 198.51.100.1:51820
	2|--job ok
	EOF
	run ip netns exec "$PROV" omerta-jail run --job ok --endpoint 198.51.100.1:51820
	[ "$status" -eq 2 ]
	[ -z "$(ls /run/netns | grep '^omerta-')" ]
}

@test "vmboot: QEMU runs unprivileged under seccomp and dies on SIGTERM; --timeout kills it" {
	vpn vm1
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/vm1.conf" --script 'sleep 60' -o "$T/vm1.img"
	omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm1.img" --no-network --events-fd 3 3>"$T/vm1.ev" &
	v=$!
	for _ in $(seq 50); do grep -q started "$T/vm1.ev" 2>/dev/null && break; sleep 0.1; done
	qpid=$(jq -r 'select(.event=="started").pid' "$T/vm1.ev")
	sleep 0.5
	u=$(jq -r 'select(.event=="started").uid' "$T/vm1.ev")
	[ "$u" -ge 61000 ]
	[ "$u" -le 61999 ]
	grep -E "^Uid:\s+$u\s" "/proc/$qpid/status"
	grep -E '^Seccomp:\s+2' "/proc/$qpid/status"
	[ "$(stat -c %u "$T/vm1.img")" = 0 ]
	[ "$(stat -c %a "$T/vm1.img")" = 600 ]
	[ "$(tr '\0' '\n' <"/proc/$qpid/environ" | grep -c .)" -le 2 ]
	[ "$(ls "/proc/$qpid/fd" | wc -l)" -lt 64 ]
	kill -TERM "$v"
	st=0
	wait "$v" || st=$?
	[ "$st" -eq 143 ]
	[ ! -d "/proc/$qpid" ]
	[ "$(jq -r 'select(.event=="exited").status' "$T/vm1.ev")" = killed ]
	# Without a tunnel (no network at all) the guest never runs the workload.
	[ "$(jq -r 'select(.event=="exited").exit_code' "$T/vm1.ev")" = null ]
	# 1 s: without a network the guest fails its eth0 step within about 2 s.
	run omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm1.img" --no-network --timeout 1 --json
	[ "$status" -eq 124 ]
	[ "$(jq -r 'select(.event=="exited").status' <<<"$output")" = timeout ]
}

@test "vmboot: a guest that fails its tunnel exits 120 with the failing step; bad input is refused" {
	vpn vm2
	ip netns exec "$REQ" omerta-vpnserve down --job vm2
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/vm2.conf" --verify-tries 2 --script 'echo never' -o "$T/vm2.img"
	run jailed vm2 "$T/vm2.img"
	[ "$status" -eq 120 ]
	[ ! -s "$T/vm2.out" ]
	[ "$(jq -r 'select(.event=="exited").step' "$T/vm2.vm")" = verify ]
	[ "$(jq -r 'select(.event=="exited").status' "$T/vm2.vm")" = vpn_setup_failed ]
	run omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm2.img"
	[ "$status" -eq 1 ]      # no tap, and no --no-network
	run omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm2.img" --no-network --user 0
	[ "$status" -eq 1 ]
	run omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm2.img" --no-network --accel kvm
	[ "$status" -eq 1 ]
	run omerta-vmboot --kernel /nonexistent --initrd "$T/vm2.img" --no-network
	[ "$status" -eq 1 ]
	run omerta-vmboot --kernel "$KERNEL" --initrd "$T/vm2.img" --no-network --memory 1
	[ "$status" -eq 1 ]
	run omerta-vmboot --initrd "$T/vm2.img"
	[ "$status" -eq 2 ]
}

@test "jail: --rate limits what the door relays from the VM" {
	vpn rl
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/rl.conf" -o "$T/rl.img" \
		--script 'head -c 400000 /dev/zero | nc -w 3 203.0.113.10 80 >/dev/null; echo sent'
	run ip netns exec "$PROV" omerta-jail run --job rl --endpoint "$(endpoint_of rl)" --rate 30000 --events-fd 3 -- \
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/rl.img" --timeout 120 3>"$T/rl.jail"
	[ "$status" -eq 0 ]
	last=$(grep door_stats "$T/rl.jail" | tail -n 1)
	[ "$(jq .rate_drops <<<"$last")" -gt 0 ]
	# About 30 kB a second at most, plus the one-second burst.
	secs=$(( ($(jq -r 'select(.event=="jail_down").time_ms' "$T/rl.jail") - $(jq -r 'select(.event=="jail_ready").time_ms' "$T/rl.jail")) / 1000 + 1 ))
	[ "$(jq .tx_bytes <<<"$last")" -le $((30000 * (secs + 1))) ]
}
