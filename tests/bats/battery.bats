#!/usr/bin/env bats
# More ways out, each tried by a root workload in its own job (issue 8, first part).
# Each must end in rogue_connection_detected with nothing reaching the internet host,
# or, where the attempt cannot even be made, with nothing leaving at all.

load ../lib/common

setup_file() {
	need_root
	export TAG=bt$$
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" up "$TAG"
	export REQ=omt-$TAG-req PROV=omt-$TAG-prov INET=omt-$TAG-inet
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
	for _ in $(seq 30); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	[ -z "$(pgrep -x qemu-system-x86)" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ -z "$(ls /run/netns | grep '^omerta-' || true)" ]
}

# attempt [execute options...]: runs a root job, with a capture on the internet host.
attempt() {
	ip netns exec "$INET" tcpdump -i wan -n -w "$T/inet.pcap" 'not (arp and host 203.0.113.1 and host 203.0.113.10)' 2>/dev/null &
	cap=$!
	sleep 0.5
	run ip netns exec "$PROV" omerta execute --vpn-config "$BATS_FILE_TMPDIR/battery.conf" --root --json "$@"
	sleep 0.3
	kill "$cap"
	wait "$cap" || true
	cap=
	result=$(jq -c 'select(.event=="result")' <<<"$output")
	echo "$result"
	[ "$(tcpdump -r "$T/inet.pcap" -n 2>/dev/null | wc -l)" -eq 0 ]
}

@test "battery: cloud metadata at 169.254.169.254" {
	attempt --script 'nft flush ruleset; ip route add 169.254.169.254 dev eth0; printf "GET / HTTP/1.0\r\n\r\n" | nc -w 2 169.254.169.254 80'
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
	attempt --script 'nft flush ruleset; ip link set eth0 address 52:54:00:66:66:66; nc -w 2 10.66.0.1 51820 </dev/null'
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
			omerta-vmboot --kernel "$(printf "%s\n" /boot/vmlinuz-* | sort -V | tail -n 1)" --initrd "$1" --timeout 120' \
		"$BATS_FILE_TMPDIR/battery.conf" "$T/dhcp.img"
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -q -i dhcp <<<"$output"
	[ "$(grep -c '^default' <<<"$output")" -eq 1 ]
	grep -q '^default dev wg0' <<<"$output"
	grep -q 'inet 10.66.0.2/24' <<<"$output"
	! grep -q '10.66.0.10[0-9]' <<<"$output"
}

@test "battery: an inbound probe from the provider's side toward the guest's tunnel address gets no answer" {
	run ip netns exec "$PROV" omerta-jail run --job probe --endpoint "$(omerta-wgconf show "$BATS_FILE_TMPDIR/battery.conf" | awk -F'\t' '$1=="endpoint"{print $2}')" -- \
		sh -c 'omerta-mkinitrd --vpn-config "$0" -o "$1" --script "sleep 8; echo done" &&
			{ omerta-vmboot --kernel "$(printf "%s\n" /boot/vmlinuz-* | sort -V | tail -n 1)" --initrd "$1" --timeout 120 & v=$!; }
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
