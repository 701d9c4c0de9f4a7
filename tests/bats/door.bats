#!/usr/bin/env bats
# The door and the tap filter against a root workload that has removed the guest's
# kill switch (issue 15, "The door and the filter"): WireGuard data past the tunnel
# MTU, a flood of forged initiations, VLAN-tagged frames. Each job runs in a real
# jail, watched, with the options omerta execute gives the jail (--mtu, --peer-key;
# no --rate: the jail's defaults), against the test world's requester.

load ../lib/common

setup_file() { world_up dr; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -z "${cap:-}" ] || { kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null || true; }
	cap=
	vm_teardown
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

conf_of() { omerta-wgconf show "$T/$1.conf" | awk -F'\t' -v k="$2" '$1==k{print $2}'; }

# jailed JOB: $T/JOB.img in JOB's jail, with the options omerta execute gives it.
jailed() {
	ip netns exec "$PROV" omerta-jail run --job "$1" --endpoint "$(conf_of "$1" endpoint)" \
		--mtu 1420 --peer-key "$(conf_of "$1" peer_public_key)" --events-fd 5 -- \
		omerta-watch --events-fd 4 --vm-events-fd 3 -- \
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/$1.img" --events-fd 3 --memory 256 --timeout 150 \
		4>"$T/$1.ev" 5>"$T/$1.jail" >"$T/$1.out" 2>"$T/$1.err"
}

# door_job JOB: a root python workload from $T/JOB.py (with the kill switch flushed
# first), in JOB's jail as omerta execute makes it, watched. Events: $T/JOB.ev (the
# watcher), $T/JOB.jail (the door); output: $T/JOB.out.
door_job() {
	local job=$1
	vpn "$job"
	# @SERVER_PUB@: the server's public key, which the guest's root holds anyway (its
	# WireGuard config; the kernel's wg0 answers for it too).
	{ printf 'import os\nos.system(%s)\n' "'$FLUSH'"; sed "s|@SERVER_PUB@|$(conf_of "$job" peer_public_key)|" "$T/$job.py"; } \
		>"$T/$job.script"
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/$job.conf" --root --language python \
		--script-file "$T/$job.script" -o "$T/$job.img"
	run jailed "$job"
	cat "$T/$job.ev" "$T/$job.out" "$T/$job.err"
	grep -v door_stats "$T/$job.jail" || true
	tail -n 1 <(grep door_stats "$T/$job.jail")
}

ev() { jq -r "select(.event==\"$2\") | $3" "$T/$1.ev"; }
door_last() { grep '"event":"door_stats"' "$T/$1.jail" | tail -n 1 | jq -r "$2"; }

# endpoint_capture FILTER: what the requester's uplink receives from the provider
# that matches FILTER, captured until endpoint_count.
endpoint_capture() {
	ip netns exec "$REQ" tcpdump -i wan -n -U -w "$T/req.pcap" "udp and src host 192.0.2.2 and ($1)" 2>/dev/null &
	cap=$!
	sleep 0.5
}

endpoint_count() {
	sleep 0.3
	kill "$cap" 2>/dev/null || true
	wait "$cap" 2>/dev/null || true
	cap=
	# A capture that never ran must not pass as an empty one.
	[ -s "$T/req.pcap" ] || { echo "no capture on the requester" >&2; return 1; }
	tcpdump -r "$T/req.pcap" -n 2>/dev/null | tee "$T/req.txt" >&2
	wc -l <"$T/req.txt"
}

# The guest learns the server's session index as a root workload would: from its own
# WireGuard data on eth0 (the heartbeat's, every 2 s), then sends a data message of
# LEN bytes with it to the door, after raising eth0's MTU to ETH_MTU.
oversized_py() { # LEN ETH_MTU
	cat <<-PY
	import socket, struct, time
	s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
	s.bind(("eth0", 0))
	s.settimeout(1)
	idx, end = None, time.time() + 20
	while idx is None and time.time() < end:
	    try:
	        f = s.recv(4096)
	    except socket.timeout:
	        continue
	    if len(f) < 14 + 20 + 8 + 32 or f[12:14] != b"\x08\x00":
	        continue
	    ip = f[14:]
	    h = (ip[0] & 15) * 4
	    w = ip[h + 8:]
	    if ip[9] == 17 and ip[12:16] == bytes([10, 66, 0, 2]) and w[0] == 4:
	        idx = w[4:8]
	print("index", idx.hex() if idx else None, flush=True)
	if $2 != 1500:
	    os.system("ip link set eth0 mtu $2")
	    print(open("/sys/class/net/eth0/mtu").read().strip(), flush=True)
	u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	msg = b"\x04\x00\x00\x00" + idx + struct.pack("<Q", 1 << 40)
	u.sendto(msg + bytes($1 - len(msg)), ("10.66.0.1", 51820))
	print("sent $1", flush=True)
	time.sleep(5)
	print("survived", flush=True)
	PY
}

@test "door: a 1472-byte data message with the real receiver index (eth0 at 1500) ends the job; nothing reaches the endpoint" {
	# 1472 = 1440 of plaintext, a multiple of 16 but past the MTU of 1420: WireGuard
	# never sends it, and it fills eth0's 1500 exactly (the filter lets it through).
	oversized_py 1472 1500 >"$T/o1.py"
	endpoint_capture 'ip[2:2] > 1480 or (ip[6:2] & 0x3fff) != 0'
	door_job o1
	n=$(endpoint_count)
	[ "$status" -eq 121 ]
	# The index was sniffed (printed a second or more before the kill, so it got out).
	grep -q '^index [0-9a-f]\{8\}$' "$T/o1.out"
	run ! grep -q survived "$T/o1.out"
	[ "$(ev o1 watch_result .status)" = rogue_connection_detected ]
	[ "$(ev o1 rogue_connection .source)" = door ]
	[ "$(jq -r 'select(.event=="rogue_datagram").reason' "$T/o1.jail")" = "a data message longer than the tunnel MTU allows" ]
	[ "$(jq -r 'select(.event=="rogue_datagram").len' "$T/o1.jail")" = 1472 ]
	# Nothing longer than the tunnel's 1452-byte data (1480 of IP), and no fragment,
	# left the provider for the endpoint.
	[ "$n" -eq 0 ]
}

@test "door: after eth0 is raised to 9000, an 8192-byte data message is dropped at the tap and ends the job; nothing reaches the endpoint" {
	oversized_py 8192 9000 >"$T/o2.py"
	endpoint_capture 'ip[2:2] > 1480 or (ip[6:2] & 0x3fff) != 0'
	door_job o2
	n=$(endpoint_count)
	[ "$status" -eq 121 ]
	run ! grep -q survived "$T/o2.out"
	[ "$(ev o2 watch_result .status)" = rogue_connection_detected ]
	# The filter's own rule caught it, and says so: 8220 bytes of IP (8192 + 28).
	[ "$(ev o2 rogue_connection .source)" = tap ]
	[ "$(ev o2 rogue_connection .frame.rule)" = oversize ]
	[ "$(ev o2 rogue_connection .frame.ip_len)" = 8220 ]
	[ "$(ev o2 rogue_connection .frame.dport)" = 51820 ]
	# The door never saw it.
	[ "$(door_last o2 .tx_bytes)" -lt 100000 ]
	[ -z "$(grep '"event":"rogue_datagram"' "$T/o2.jail")" ]
	[ "$n" -eq 0 ]
}

@test "door: a flood of forged 148-byte initiations (the server's mac1, so the door takes them for WireGuard) is held by the default rate" {
	# The workload has the server's public key, as a root workload does, and makes
	# initiations whose mac1 is right: shaped and keyed as
	# WireGuard's, only a rate tells them apart.
	cat >"$T/fl.py" <<-'PY'
	import hashlib, socket, time
	import base64
	key = hashlib.blake2s(b"mac1----" + base64.b64decode("@SERVER_PUB@")).digest()
	u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	t0 = time.time()
	sent = 0
	for i in range(10000):
	    m = b"\x01\x00\x00\x00" + i.to_bytes(4, "little") + bytes(108)
	    m += hashlib.blake2s(m, key=key, digest_size=16).digest() + bytes(16)
	    try:
	        u.sendto(m, ("10.66.0.1", 51820))
	        sent += 1
	    except OSError:
	        time.sleep(0.001)
	print("flooded", sent, round(time.time() - t0, 2), flush=True)
	time.sleep(2)
	# The honest tunnel still works.
	c = socket.create_connection(("203.0.113.10", 80), timeout=10)
	c.sendall(b"GET /cgi-bin/ip HTTP/1.0\r\n\r\n")
	got = b""
	while True:  # one recv may be a part of the answer, on a loaded machine
	    d = c.recv(4096)
	    if not d:
	        break
	    got += d
	print(got.decode().split("\r\n\r\n")[1].strip(), flush=True)
	PY
	# An initiation is 148 bytes of UDP: 176 of IP.
	endpoint_capture 'ip[2:2] = 176'
	door_job fl
	n=$(endpoint_count)
	[ "$status" -eq 0 ]
	[ "$(ev fl watch_result .status)" = completed ]
	grep -q '^flooded 10000 ' "$T/fl.out"
	[ "$(tail -n 1 "$T/fl.out")" = 198.51.100.1 ]
	# The door's defaults: 60 handshake messages a minute in bursts of 10. What
	# reached the endpoint: the guest's real initiation(s), the burst, and one a
	# second while the flood lasted (a few seconds under TCG); the rest was dropped
	# and counted: by the door's limit, or by the kernel where the flood overran the
	# door's queue (queue_drops: seen here on a loaded machine, never relayed either).
	echo "initiations at the endpoint: $n; drops: $(door_last fl '"\(.handshake_drops) by the rate, \(.queue_drops) by the queue"')" >&2
	[ "$n" -ge 1 ]
	[ "$n" -le 40 ]
	[ "$(jq -r 'select(.event=="jail_ready").handshakes_per_min' "$T/fl.jail")" = 60 ]
	[ "$(jq -r 'select(.event=="rate_limited").limit' "$T/fl.jail")" = handshakes ]
	[ "$(door_last fl .handshake_drops)" -ge 5000 ]
	[ "$(door_last fl '.queue_drops | type')" = number ]
	[ $(($(door_last fl .handshake_drops) + $(door_last fl .queue_drops))) -ge 9960 ]
	# and nothing counted twice: no more than the flood and the guest's own.
	[ $(($(door_last fl .handshake_drops) + $(door_last fl .queue_drops))) -le 10020 ]
	[ "$(door_last fl .rate_drops)" -eq "$(door_last fl .handshake_drops)" ]
	[ "$(door_last fl .rogue_datagrams)" -eq 0 ]
}

# vlan_py TPID VID: one 802.1Q or 802.1ad frame from the guest's MAC and IP, tagged,
# carrying what the filter would otherwise take: UDP to the door with the shape of an
# initiation.
vlan_py() {
	cat <<-PY
	import socket, struct, time
	s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
	s.bind(("eth0", 0))
	mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
	wg = b"\x01\x00\x00\x00" + bytes(144)
	udp = struct.pack(">HHHH", 40000, 51820, 8 + len(wg), 0) + wg
	ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([10, 66, 0, 2]), bytes([10, 66, 0, 1]))
	s.send(b"\xff" * 6 + mac + struct.pack(">HHH", $1, $2, 0x0800) + ip + udp)
	print("sent", flush=True)
	time.sleep(5)
	print("survived", flush=True)
	PY
}

@test "door: an 802.1Q frame (VID 0) and an 802.1ad frame are dropped at the tap, and the evidence names the tag" {
	vlan_py 0x8100 0 >"$T/vq.py"
	door_job vq
	[ "$status" -eq 121 ]
	run ! grep -q survived "$T/vq.out"
	[ "$(ev vq rogue_connection .source)" = tap ]
	[ "$(ev vq rogue_connection .frame.kind)" = vlan ]
	[ "$(ev vq rogue_connection .frame.vlan)" = 802.1Q ]
	[ "$(ev vq rogue_connection .frame.ethertype)" = 0x8100 ]
	[ "$(ev vq rogue_connection .frame.inner_ethertype)" = 0x0800 ]
	[ "$(ev vq rogue_connection .frame.rule)" = vlan ]
	[ "$(ev vq rogue_connection .frame.dport)" = 51820 ]
	# The door never got it.
	[ -z "$(grep '"event":"rogue_datagram"' "$T/vq.jail")" ]
	vlan_py 0x88a8 7 >"$T/vad.py"
	door_job vad
	[ "$status" -eq 121 ]
	[ "$(ev vad rogue_connection .source)" = tap ]
	[ "$(ev vad rogue_connection .frame.vlan)" = 802.1ad ]
	[ "$(ev vad rogue_connection .frame.ethertype)" = 0x88a8 ]
	[ "$(ev vad rogue_connection .frame.rule)" = vlan ]
	# This kernel logs the tag itself (NFULA_VLAN), so its VID is known.
	v=$(ev vad rogue_connection '.frame.vlan_tags[0].vid')
	[ "$v" = 7 ] || [ "$v" = null ]
	[ -z "$(grep '"event":"rogue_datagram"' "$T/vad.jail")" ]
}
