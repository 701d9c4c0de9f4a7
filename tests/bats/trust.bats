#!/usr/bin/env bats
# Issue 15, the requester's side, through a real job: a root workload in the VM, with
# the guest's kill switch removed, tries the requester's host, its LAN, a metadata
# stand-in and the uplink's subnet through the tunnel, on TCP, UDP and ICMP. Only
# the internet host (and, with --allow-dest, the one named service) answers.

load ../lib/common

setup_file() { world_up tr; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
	listeners=""
}

teardown() {
	for p in $listeners; do kill "$p" 2>/dev/null || true; done
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.ip_forward)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 0 ]
}

# The workload: for each ADDR:PORT, a TCP connect (the service says hello), a UDP
# datagram (busybox's nc has no -u: a TFTP read request) and a ping; it prints "ADDR tcp" / "ADDR icmp" for what answered.
attack='try() {
	a=${1%:*} p=${1#*:}
	[ "$(nc -w 2 "$a" "$p" </dev/null 2>/dev/null)" = hello ] && echo "$a tcp"
	timeout 2 tftp -g -r x -l /tmp/x "$a" "$p" >/dev/null 2>&1
	ping -c 1 -W 1 "$a" >/dev/null 2>&1 && echo "$a icmp"
	true
}
for t in $TARGETS; do try "$t"; done; echo done'

# targets SERVER_IP: the internet host first, then what must stay out of reach.
targets() {
	echo "203.0.113.10:9000 $1:8080 192.168.77.1:8080 198.51.100.1:8080 192.168.77.254:8082 169.254.169.254:80 198.51.100.254:8083"
}

start_targets() {
	listen "$REQ" 0.0.0.0 8080 host
	listen "$LAN" 192.168.77.254 8082 lan
	listen "$LAN" 169.254.169.254 80 meta
	listen "$WAN" 198.51.100.254 8083 uplink
	listen "$INET" 203.0.113.10 9000 inet
}

@test "trust: a root job through omerta-vpnserve reaches the internet host, and nothing of the requester's host, LAN, metadata or uplink subnet" {
	start_targets
	ip netns exec "$REQ" omerta-vpnserve up --job t1 --endpoint-host 198.51.100.1 --owner $$ >"$T/t1.conf"
	sip=$(ip netns exec "$REQ" omerta-vpnserve status --job t1 --json | jq -r .server_ip)
	TARGETS=$(targets "$sip")
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t1.conf" --root \
		--script "$FLUSH; TARGETS='$TARGETS'; $attack"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	# The server's address answers the heartbeat's ping, and nothing else does.
	[ "$output" = "$(printf '203.0.113.10 tcp\n203.0.113.10 icmp\n%s icmp\ndone' "$sip")" ]
	grep -qx 'udp 198.51.100.1' "$T/inet.log"
	for l in host lan meta uplink; do
		echo "$l: $(cat "$T/$l.log")"
		[ ! -s "$T/$l.log" ]
	done
	refused=$(ip netns exec "$REQ" omerta vpn status --job-id t1 --json | jq -r .refused_packets)
	echo "refused=$refused"
	[ "$refused" -ge 17 ]
}

@test "trust: with --allow-dest the one named LAN service is reached; metadata and the rest stay refused" {
	start_targets
	ip netns exec "$REQ" omerta-vpnserve up --job t2 --endpoint-host 198.51.100.1 --allow-dest 192.168.77.254/32 \
		--owner $$ >"$T/t2.conf"
	sip=$(ip netns exec "$REQ" omerta-vpnserve status --job t2 --json | jq -r .server_ip)
	TARGETS=$(targets "$sip")
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t2.conf" --root \
		--script "$FLUSH; TARGETS='$TARGETS'; $attack"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '203.0.113.10 tcp\n203.0.113.10 icmp\n%s icmp\n192.168.77.254 tcp\n192.168.77.254 icmp\ndone' "$sip")" ]
	grep -qx 'tcp 192.168.77.1' "$T/lan.log"
	grep -qx 'udp 192.168.77.1' "$T/lan.log"
	for l in host meta uplink; do
		echo "$l: $(cat "$T/$l.log")"
		[ ! -s "$T/$l.log" ]
	done
}
