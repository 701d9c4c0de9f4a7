#!/usr/bin/env bats
# More ways out, each tried by a root workload in its own job (issue 8, first part).
# Each must end in rogue_connection_detected with nothing reaching the internet host,
# or, where the attempt cannot even be made, with nothing leaving at all.

load ../lib/common

setup_file() {
	need_root
	export TAG=bt$$
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" up "$TAG"
	export REQ=omt-$TAG-req PROV=omt-$TAG-prov INET=omt-$TAG-inet PROV2=omt-$TAG-prov2
	mkdir -p "$OMERTA_RUN_DIR"
	ip netns exec "$REQ" omerta-vpnserve up --job battery --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ \
		>"$BATS_FILE_TMPDIR/battery.conf"
}

teardown_file() {
	ip netns exec "$REQ" omerta-vpnserve down --job battery
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" down "$TAG"
	TAG= assert_no_leftovers
}

setup() { T=$BATS_TEST_TMPDIR; }

teardown() {
	[ -z "${cap:-}" ] || { kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null || true; }
	for c in ${caps:-}; do kill "$c" 2>/dev/null || true; wait "$c" 2>/dev/null || true; done
	for _ in $(seq 30); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	[ -z "$(pgrep -x qemu-system-x86)" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ -z "$(ls /run/netns | grep '^omerta-' || true)" ]
}

# Captures on every test namespace but the jail's, each with a filter for what must
# never be there: the internet host sees nothing but the requester (what came through
# the tunnel); the requester and the provider's uplink carry only the tunnel (UDP
# between them), their own ARP and, on the requester, its traffic with the internet
# host; the second provider sees nothing at all.
capture_start() {
	local ns
	caps=
	for ns in "$INET" "$REQ" "$PROV" "$PROV2"; do
		case $ns in
		"$INET") f='not (arp and host 203.0.113.1 and host 203.0.113.10) and not (ip and host 198.51.100.1)' ;;
		"$REQ") f='not (udp and host 192.0.2.2 and host 198.51.100.1) and not (arp and host 198.51.100.254 and host 198.51.100.1) and not (ip and host 198.51.100.1 and host 203.0.113.10)' ;;
		"$PROV") f='not (udp and host 192.0.2.2 and host 198.51.100.1) and not (arp and host 192.0.2.254 and host 192.0.2.2)' ;;
		"$PROV2") f='not (arp and host 198.18.0.254 and host 198.18.0.2)' ;;
		esac
		ip netns exec "$ns" tcpdump -i wan -n -U -w "$T/${ns##*-}.pcap" "$f" 2>/dev/null &
		caps="$caps $!"
	done
	sleep 0.5
}

# capture_check: stops the captures; each must be empty.
capture_check() {
	local c n ns bad=0
	sleep 0.3
	for c in $caps; do kill "$c" 2>/dev/null || true; wait "$c" 2>/dev/null || true; done
	caps=
	for ns in inet req prov prov2; do
		# A capture that never ran must not pass as an empty one.
		[ -s "$T/$ns.pcap" ] || { echo "no capture on $ns"; bad=1; continue; }
		n=$(tcpdump -r "$T/$ns.pcap" -n 2>/dev/null | wc -l)
		[ "$n" -eq 0 ] || { echo "capture on $ns:"; tcpdump -r "$T/$ns.pcap" -n 2>/dev/null | head -5; bad=1; }
	done
	[ "$bad" -eq 0 ]
}

# attempt [execute options...]: runs a root job with every namespace captured.
attempt() {
	capture_start
	run ip netns exec "$PROV" omerta execute --vpn-config "$BATS_FILE_TMPDIR/battery.conf" --root --json "$@"
	result=$(jq -c 'select(.event=="result")' <<<"$output")
	echo "$result"
	capture_check
}

# way_out SCRIPT [execute options...]: the attempt must end in rogue_connection_detected
# (121). busybox nc has no UDP: UDP attempts use bash and its /dev/udp.
way_out() {
	local script=$1
	shift
	attempt --script "$FLUSH; $script; sleep 5; echo survived" "$@"
	[ "$status" -eq 121 ]
	[ "$(jq -r .status <<<"$result")" = rogue_connection_detected ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" != survived ]
}

@test "battery: direct TCP to the internet host through eth0" {
	way_out 'ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null'
}

@test "battery: DNS (UDP 53) to the internet host through eth0" {
	way_out 'ip route replace default via 10.66.0.1 dev eth0; nslookup example.com 203.0.113.10'
}

@test "battery: ICMP to the internet host through eth0" {
	way_out 'ip route replace default via 10.66.0.1 dev eth0; ping -c 2 -W 1 203.0.113.10'
}

@test "battery: TCP and UDP to the gateway itself, the provider's side of the tap" {
	way_out 'nc -w 2 10.66.0.1 22 </dev/null'
	way_out 'echo x >/dev/udp/10.66.0.1/53' --language bash
}

@test "battery: a WireGuard-sized datagram of junk to the door" {
	# One write, so one datagram: type 1 (a handshake initiation) and 144 zero bytes.
	way_out '{ printf "\\001\\000\\000\\000"; head -c 144 /dev/zero; } >/tmp/junk; cat /tmp/junk >/dev/udp/10.66.0.1/51820' --language bash
}

@test "battery: an ARP probe for another address, a gratuitous ARP, and a spoofed ARP" {
	way_out 'arping -c 1 -w 1 -I eth0 10.66.0.7'
	way_out 'arping -U -c 1 -w 1 -I eth0 10.66.0.2'
	way_out 'ip addr add 10.66.0.9/24 dev eth0; arping -U -c 1 -w 1 -s 10.66.0.9 -I eth0 10.66.0.9'
}

@test "battery: a spoofed source IP" {
	way_out 'ip addr add 10.66.0.9/24 dev eth0; ip route replace 10.66.0.1 dev eth0 src 10.66.0.9; echo x >/dev/udp/10.66.0.1/51820' --language bash
}

# ctl SCRIPT: shell that writes SCRIPT's output to the guest's control port.
ctl() { printf 'for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = omerta.ctl ] && { %s; } >/dev/${p##*/}; done' "$1"; }

@test "battery: forged control records (an exit, a power-off, zero drops) do not stop detection" {
	way_out "$(ctl 'echo "exit status=0 t=1"; echo "poweroff t=1"; echo "drops out=0 in=0 t=1"'); ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null"
}

@test "battery: garbage or a flood on the control channel ends only this job, as an error" {
	attempt --script "$(ctl 'head -c 65536 /dev/urandom'); sleep 5; echo survived"
	echo "$output"
	[ "$(jq -r .status <<<"$result")" = error ]
	[ "$status" -eq 125 ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" != survived ]
	attempt --script "$(ctl 'i=0; while [ $i -lt 1000 ]; do echo "step name=wg t=1"; i=$((i + 1)); done'); sleep 5; echo survived"
	[ "$(jq -r .status <<<"$result")" = error ]
	[ "$status" -eq 125 ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" != survived ]
	# The host's tools are unharmed: the next job runs.
	run ip netns exec "$PROV" omerta execute --vpn-config "$BATS_FILE_TMPDIR/battery.conf" --script 'echo fine'
	[ "$status" -eq 0 ]
	[ "$output" = fine ]
}

@test "battery: traffic from a process the workload leaves behind as it exits" {
	# The workload exits at once; its child flushes the firewall and connects. Either
	# the VM is off first, or the frame is caught: nothing leaves either way.
	attempt --script "( $FLUSH; "'ip route replace default via 10.66.0.1 dev eth0; while :; do nc -w 1 203.0.113.10 80 </dev/null; done ) >/dev/null 2>&1 & exit 0'
	case $(jq -r .status <<<"$result") in
	completed) [ "$status" -eq 0 ] && [ "$(jq -r .blocked.frames <<<"$result")" -eq 0 ] ;;
	rogue_connection_detected) [ "$status" -eq 121 ] ;;
	*) false ;;
	esac
}

@test "battery: while the tunnel comes up and until power-off, the tap carries only ARP for the door and WireGuard to it" {
	ip netns exec "$PROV" omerta execute --vpn-config "$BATS_FILE_TMPDIR/battery.conf" --job-id bringup \
		--script 'sleep 2; echo ok' --json >"$T/bu.out" &
	e=$!
	# The job's namespace is mounted in the execute's mount namespace (ip netns exec
	# made one), so it is entered through the watcher, which runs in it, once the tap
	# exists; the guest's kernel needs about a second more before its first frame.
	for _ in $(seq 500); do
		wp=$(pgrep -x omerta-watch || true)
		[ -n "$wp" ] && nsenter --net="/proc/$wp/ns/net" ip link show tap0 >/dev/null 2>&1 && break
		sleep 0.01
	done
	nsenter --net="/proc/$wp/ns/net" tcpdump -i tap0 -n -U -w "$T/tap.pcap" 2>"$T/tap.err" &
	cap=$!
	wait "$e"
	kill "$cap" 2>/dev/null || true
	wait "$cap" 2>/dev/null || true
	cap=
	[ "$(jq -r 'select(.event=="result").status' "$T/bu.out")" = completed ]
	tcpdump -r "$T/tap.pcap" -n 2>/dev/null | tee "$T/tap.txt"
	# The capture saw the bring-up from its first frame: the guest's ARP for the door.
	head -n 1 "$T/tap.txt" | grep -q 'Request who-has 10.66.0.1 tell 10.66.0.2'
	grep -q 'UDP, length 148' "$T/tap.txt" # the handshake initiation
	# Everything was one of: ARP between 10.66.0.2 and the door, UDP 10.66.0.2 <-> 10.66.0.1.51820.
	[ -z "$(grep -v -E 'ARP, (Request who-has 10\.66\.0\.1 tell 10\.66\.0\.2|Reply 10\.66\.0\.1 is-at)|10\.66\.0\.2\.[0-9]+ > 10\.66\.0\.1\.51820: UDP|10\.66\.0\.1\.51820 > 10\.66\.0\.2\.[0-9]+: UDP|ARP, (Request who-has 10\.66\.0\.2 tell 10\.66\.0\.1|Reply 10\.66\.0\.2 is-at)' "$T/tap.txt")" ]
}

@test "battery: an honest job beside them: DNS through the tunnel, TCP, ICMP to the server, 10 MB down; no false alarm" {
	capture_start
	# Root (busybox ping needs a raw socket), but leaving its firewall alone.
	run ip netns exec "$PROV" omerta execute --vpn-config "$BATS_FILE_TMPDIR/battery.conf" --json --root --script '
		nslookup omerta.test 203.0.113.10 | grep -q 203.0.113.10; echo "dns $?"
		printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1
		a=$(ip -4 -o addr show dev wg0 | awk "{print \$4}" | cut -d/ -f1)
		ping -c 2 -W 2 -q "${a%.*}.$((${a##*.} - 1))" >/dev/null; echo "ping $?"
		for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://203.0.113.10/1m; done | wc -c'
	capture_check
	show
	[ "$status" -eq 0 ]
	out=$(jq -r 'select(.event=="output").data' <<<"$output" | tr -d '\n ')
	[[ "$out" == dns0198.51.100.1ping0* ]]
	[[ "$out" == *10485760 ]]
	[ "$(jq -r 'select(.event=="result").blocked.frames' <<<"$output")" -eq 0 ]
}

@test "battery: cloud metadata at 169.254.169.254" {
	attempt --script "$FLUSH; "'ip route add 169.254.169.254 dev eth0; printf "GET / HTTP/1.0\r\n\r\n" | nc -w 2 169.254.169.254 80'
	[ "$status" -eq 121 ]
	[ "$(jq -r '.status' <<<"$result")" = rogue_connection_detected ]
	[ "$(jq -r 'select(.event=="rogue_connection").frame.kind' <<<"$output")" = arp ] ||
		[ "$(jq -r 'select(.event=="rogue_connection").frame.dst' <<<"$output")" = 169.254.169.254 ]
}

@test "battery: a raw AF_PACKET frame with a made-up ethertype" {
	attempt --language python --memory 256 --script 'import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
s.send(bytes.fromhex("ffffffffffff525400123456" "88b5") + b"raw frame from the guest" + bytes(30))
import time; time.sleep(3); print("survived")'
	[ "$status" -eq 121 ]
	[ "$(jq -r 'select(.event=="rogue_connection").frame.ethertype' <<<"$output")" = 0x88b5 ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" != "survived" ]
}

@test "battery: a spoofed source MAC" {
	attempt --script "$FLUSH; "'ip link set eth0 address 52:54:00:66:66:66; nc -w 2 10.66.0.1 51820 </dev/null'
	[ "$status" -eq 121 ]
	[ "$(jq -r '.status' <<<"$result")" = rogue_connection_detected ]
}

@test "battery: IPv6 cannot even be turned on in the guest, and nothing leaves" {
	attempt --script 'sysctl -w net.ipv6.conf.all.disable_ipv6=0 2>&1; ls /proc/sys/net/ipv6 2>&1 | head -n 1; ip -6 addr add fd00::2/64 dev eth0 2>&1; echo done'
	[ "$status" -eq 0 ]
	out=$(jq -r 'select(.event=="output") | .data' <<<"$output")
	[[ "$out" == *"No such file or directory"* ]] || [[ "$out" == *"can't"* ]]
	[ "$(jq -r '.blocked.frames' <<<"$result")" -eq 0 ]
}

@test "battery: a rogue DHCP server on the tap changes nothing: the guest runs no DHCP client" {
	mkdir -p "$T/dhcp"
	cat >"$T/udhcpd.conf" <<-CONF
	start 10.66.0.100
	end 10.66.0.110
	interface tap0
	lease_file $T/dhcp/leases
	pidfile $T/dhcp/pid
	opt router 10.66.0.1
	opt staticroutes 0.0.0.0/0 10.66.0.1
	CONF
	touch "$T/dhcp/leases"
	# The DHCP server runs inside the jail, beside the tap, for the whole job.
	run ip netns exec "$PROV" omerta-jail run --job dhcp --endpoint "$(omerta-wgconf show "$BATS_FILE_TMPDIR/battery.conf" | awk -F'\t' '$1=="endpoint"{print $2}')" -- \
		sh -c 'busybox udhcpd -f "$0" & d=$!; "$@"; r=$?; kill $d; exit $r' "$T/udhcpd.conf" \
		sh -c 'omerta-mkinitrd --vpn-config "$0" --root -o "$1" --script "sleep 4; ps; ip route; ip -4 addr show eth0 | grep inet" &&
			omerta-vmboot --kernel "$KERNEL" --initrd "$1" --timeout 120' \
		"$BATS_FILE_TMPDIR/battery.conf" "$T/dhcp.img"
	echo "$output"
	[ "$status" -eq 0 ]
	# No DHCP client in the guest's process list (udhcpd's own start-up lines are in
	# the output too: this was "dhcp" anywhere, which could not fail while it was a
	# bare "!", and could not pass once it was made real).
	grep -q 'PID *USER *COMMAND' <<<"$output"
	[ "$(grep -ciE 'udhcpc|dhclient|dhcpcd' <<<"$output")" -eq 0 ]
	[ "$(grep -c '^default' <<<"$output")" -eq 1 ]
	grep -q '^default dev wg0' <<<"$output"
	grep -q 'inet 10.66.0.2/24' <<<"$output"
	[ "$(grep -c '10.66.0.10[0-9]' <<<"$output")" -eq 0 ]
}

@test "battery: an inbound probe from the provider's side toward the guest's tunnel address gets no answer" {
	run ip netns exec "$PROV" omerta-jail run --job probe --endpoint "$(omerta-wgconf show "$BATS_FILE_TMPDIR/battery.conf" | awk -F'\t' '$1=="endpoint"{print $2}')" -- \
		sh -c 'omerta-mkinitrd --vpn-config "$0" -o "$1" --script "sleep 8; echo done" &&
			{ omerta-vmboot --kernel "$KERNEL" --initrd "$1" --timeout 120 & v=$!; }
			sleep 4
			ip route add 10.200.0.0/16 via 10.66.0.2 dev tap0
			if ping -c 3 -W 1 10.200.0.2 >/dev/null 2>&1; then echo ANSWERED; fi
			if ping -c 2 -W 1 10.66.0.2 >/dev/null 2>&1; then echo ANSWERED-ETH0; fi
			wait $v' "$BATS_FILE_TMPDIR/battery.conf" "$T/probe.img"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *done* ]]
	[[ "$output" != *ANSWERED* ]]
}
