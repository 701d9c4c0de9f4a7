#!/usr/bin/env bats
# omerta-vpnserve against real clients (wireguard-go + wg, and wg-quick) in the test
# world's namespaces.

load ../lib/common

setup_file() {
	need_root
	export TAG=vs$$
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" up "$TAG"
	export REQ=omt-$TAG-req PROV=omt-$TAG-prov PROV2=omt-$TAG-prov2 INET=omt-$TAG-inet
	export LAN=omt-$TAG-lan WAN=omt-$TAG-wan
}

teardown_file() {
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" down "$TAG"
	TAG= assert_no_leftovers
}

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	clients=""
	listeners=""
}

teardown() {
	for c in $clients; do client_down "${c%%:*}" "${c#*:}"; done
	for j in $(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null); do
		ip netns exec "$REQ" omerta-vpnserve down --job "$j" >/dev/null 2>&1 || true
	done
	for p in $listeners; do kill "$p" 2>/dev/null || true; done
	rm -rf "/etc/netns/$REQ"
	assert_no_leftovers
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.ip_forward)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 0 ]
	[ -z "$(ip netns exec "$REQ" nft list tables)" ]
	[ -z "$(ls -A "$OMERTA_RUN_DIR/vpn" 2>/dev/null | grep -v '^\.lock$')" ]
}

vs() { ip netns exec "$REQ" omerta-vpnserve "$@"; }

# client_up NS IFNAME CONF: a plain wireguard-go + wg client, with the checked
# config applied through omerta-wgconf setconf, and its default route in the tunnel.
client_up() {
	local ns=$1 ifn=$2 conf=$3 gw addr
	clients="$clients $ns:$ifn"
	gw=$(ip -n "$ns" route show default | awk '{print $3}')
	wg_userspace "$ns" "$ifn" || { echo "$wg_pid" >"$BATS_TEST_TMPDIR/$ifn.pid"; return 1; }
	echo "$wg_pid" >"$BATS_TEST_TMPDIR/$ifn.pid"
	ip netns exec "$ns" omerta-wgconf setconf "$conf" >"$BATS_TEST_TMPDIR/$ifn.set"
	ip netns exec "$ns" wg setconf "$ifn" "$BATS_TEST_TMPDIR/$ifn.set"
	addr=$(ip netns exec "$ns" omerta-wgconf show --json "$conf" | jq -r '.address[0]')
	ip -n "$ns" addr add "$addr" dev "$ifn"
	ip -n "$ns" link set "$ifn" up
	ip -n "$ns" route add 198.51.100.1/32 via "$gw"
	ip -n "$ns" route replace default dev "$ifn"
}

client_down() {
	local ns=$1 ifn=$2 gw
	ip -n "$ns" link del "$ifn" 2>/dev/null || true
	[ -f "$BATS_TEST_TMPDIR/$ifn.pid" ] && { kill "$(cat "$BATS_TEST_TMPDIR/$ifn.pid")" 2>/dev/null || true; }
	gw=$(ip -n "$ns" route show 198.51.100.1/32 | awk '{print $3}')
	if [ -n "$gw" ]; then
		ip -n "$ns" route del 198.51.100.1/32 || true
		ip -n "$ns" route replace default via "$gw"
	fi
}

# What the internet host says our address is.
whoami_from() {
	ip netns exec "$1" sh -c 'printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80' | tail -n 1
}

@test "vpnserve: a client reaches the internet host through the job's tunnel, seen as the requester" {
	vs up --job web1 --endpoint-host 198.51.100.1 --owner $$ >"$BATS_TEST_TMPDIR/c.conf"
	# The emitted config passes the provider's gate as it is.
	ip netns exec "$PROV" omerta-wgconf check "$BATS_TEST_TMPDIR/c.conf"
	# Before the client: no handshake, and wait times out.
	run vs wait --job web1 --timeout 1
	[ "$status" -eq 124 ]
	# Without the tunnel the provider is seen as itself.
	[ "$(whoami_from "$PROV")" = "192.0.2.2" ]
	client_up "$PROV" omtc0 "$BATS_TEST_TMPDIR/c.conf"
	vs wait --job web1 --timeout 10
	[ "$(whoami_from "$PROV")" = "198.51.100.1" ]
	run vs status --job web1
	show
	[ "$status" -eq 0 ]
	IFS=$'\t' read -r job ifn port sip cip hs rx1 tx1 conn state refused allow <<<"$output"
	[ "$job" = web1 ]
	[ "$port" = 51820 ]
	[ "$sip" = 10.200.0.1 ]
	[ "$cip" = 10.200.0.2 ]
	[ "$hs" -gt 0 ]
	[ "$rx1" -gt 0 ]
	[ "$tx1" -gt 0 ]
	[ "$conn" = yes ]
	[ "$state" = up ]
	[[ "$refused" =~ ^[0-9]+$ ]]
	[ "$allow" = - ]
	[[ "$ifn" =~ ^omv[0-9a-f]{12}$ ]]
	ip netns exec "$PROV" sh -c 'printf "GET /1m HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80' >/dev/null
	run vs status --job web1 --json
	# The server sent the megabyte to the client, and heard the request.
	[ "$(jq -r .tx_bytes <<<"$output")" -gt $((tx1 + 1000000)) ]
	[ "$(jq -r .rx_bytes <<<"$output")" -gt "$rx1" ]
	[ "$(jq -r .connected <<<"$output")" = true ]
	# Forwarding is on for the uplink (and the job's interface) only, never for the
	# whole namespace.
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.ip_forward)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 1 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n "net.ipv4.conf.$ifn.forwarding")" = 1 ]
	client_down "$PROV" omtc0
	clients=
	vs down --job web1
	[ ! -e "$OMERTA_RUN_DIR/vpn/web1" ]
	[ "$(ip -n "$REQ" -o link | grep -c omv)" -eq 0 ]
}

@test "vpnserve: the config works with wg-quick (wireguard-go userspace)" {
	vs up --job quick --endpoint-host 198.51.100.1 --owner $$ >"$BATS_TEST_TMPDIR/omtq0.conf"
	chmod 600 "$BATS_TEST_TMPDIR/omtq0.conf"
	ip netns exec "$PROV" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
		wg-quick up "$BATS_TEST_TMPDIR/omtq0.conf" 2>"$BATS_TEST_TMPDIR/wgq.log"
	who=$(whoami_from "$PROV")
	ip netns exec "$PROV" wg-quick down "$BATS_TEST_TMPDIR/omtq0.conf" 2>>"$BATS_TEST_TMPDIR/wgq.log"
	[ "$who" = "198.51.100.1" ]
	vs wait --job quick --timeout 1
	vs down --job quick
}

@test "vpnserve: parallel ups get distinct ports and subnets; jobs cannot reach each other's clients" {
	for i in 1 2 3 4; do
		vs up --job par$i --endpoint-host 198.51.100.1 --owner $$ >"$BATS_TEST_TMPDIR/p$i.conf" &
	done
	wait
	run vs status --json
	[ "$(wc -l <<<"$output")" -eq 4 ]
	[ "$(jq -r .listen_port <<<"$output" | sort -u | wc -l)" -eq 4 ]
	[ "$(jq -r .client_ip <<<"$output" | sort -u | wc -l)" -eq 4 ]
	[ "$(jq -r .interface <<<"$output" | sort -u | wc -l)" -eq 4 ]
	client_up "$PROV" omtc1 "$BATS_TEST_TMPDIR/p1.conf"
	client_up "$PROV2" omtc2 "$BATS_TEST_TMPDIR/p2.conf"
	vs wait --job par1 --timeout 10
	vs wait --job par2 --timeout 10
	ip2=$(vs status --job par2 --json | jq -r .client_ip)
	ip1=$(vs status --job par1 --json | jq -r .client_ip)
	# Both reach the server and the internet...
	ip netns exec "$PROV" ping -c1 -W2 "$(vs status --job par1 --json | jq -r .server_ip)"
	[ "$(whoami_from "$PROV2")" = "198.51.100.1" ]
	# ...but not each other.
	run ip netns exec "$PROV" ping -c2 -W1 "$ip2"
	[ "$status" -ne 0 ]
	run ip netns exec "$PROV2" ping -c2 -W1 "$ip1"
	[ "$status" -ne 0 ]
}

@test "vpnserve: --no-internet gives the tunnel to the server only" {
	vs up --job local1 --endpoint-host 198.51.100.1 --no-internet --subnet 10.99.0.0/24 --owner $$ >"$BATS_TEST_TMPDIR/n.conf"
	grep -q '^Address = 10.99.0.2/24$' "$BATS_TEST_TMPDIR/n.conf"
	client_up "$PROV" omtc3 "$BATS_TEST_TMPDIR/n.conf"
	ip netns exec "$PROV" ping -c1 -W3 10.99.0.1
	run whoami_from "$PROV"
	[ -z "$output" ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.ip_forward)" = 0 ]
}

@test "vpnserve: kill -9 of the server mid-job, then gc, leaves nothing" {
	vs up --job crash1 --endpoint-host 198.51.100.1 --owner $$ >"$BATS_TEST_TMPDIR/k.conf"
	client_up "$PROV" omtc4 "$BATS_TEST_TMPDIR/k.conf"
	vs wait --job crash1 --timeout 10
	pid=$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/crash1/state")
	ifn=$(sed -n 's/^interface=//p' "$OMERTA_RUN_DIR/vpn/crash1/state")
	[ -n "$pid" ]
	[ -n "$ifn" ]
	[ -S "/var/run/wireguard/$ifn.sock" ]
	kill -9 "$pid"
	for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	[ -e "/var/run/wireguard/$ifn.sock" ]
	run vs gc
	show
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'removed\tcrash1')" ]
	[ ! -e "$OMERTA_RUN_DIR/vpn/crash1" ]
	# kill -9 left wireguard-go's control socket behind; gc removed it.
	[ ! -e "/var/run/wireguard/$ifn.sock" ]
	# gc leaves live jobs alone.
	vs up --job live1 --endpoint-host 198.51.100.1 --owner $$ >/dev/null
	run vs gc
	[ -z "$output" ]
	[ -d "$OMERTA_RUN_DIR/vpn/live1" ]
}

@test "vpnserve: a job whose owner is gone is collected by gc; down after kill -9 works too" {
	sleep 60 &
	owner=$!
	vs up --job own1 --endpoint-host 198.51.100.1 --owner "$owner" >/dev/null
	kill -9 "$owner"
	wait "$owner" || true
	run vs gc
	[ "$output" = "$(printf 'removed\town1')" ]
	vs up --job crash2 --endpoint-host 198.51.100.1 --owner $$ >/dev/null
	kill -9 "$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/crash2/state")"
	vs down --job crash2
	[ ! -e "$OMERTA_RUN_DIR/vpn/crash2" ]
}

@test "vpnserve: down is idempotent; a second up for the same job is refused" {
	vs up --job dup1 --endpoint-host 198.51.100.1 --owner $$ >/dev/null
	run --separate-stderr vs up --job dup1 --endpoint-host 198.51.100.1 --owner $$
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"already exists"* ]]
	vs down --job dup1
	vs down --job dup1
	vs down --job never-was
	run vs status --job dup1
	[ "$status" -eq 5 ]
}

@test "vpnserve: secrets stay out of state, argv and logs" {
	vs up --job sec1 --endpoint-host 198.51.100.1 --owner $$ >"$BATS_TEST_TMPDIR/s.conf"
	ckey=$(sed -n 's/^PrivateKey = //p' "$BATS_TEST_TMPDIR/s.conf")
	psk=$(sed -n 's/^PresharedKey = //p' "$BATS_TEST_TMPDIR/s.conf")
	run ! grep -rqF -e "$ckey" -e "$psk" "$OMERTA_RUN_DIR"
	[ ! -e "$OMERTA_RUN_DIR/vpn/sec1/server.conf" ]
	[ "$(stat -c %a "$OMERTA_RUN_DIR/vpn/sec1/state")" = 600 ]
	[ "$(stat -c %a "$OMERTA_RUN_DIR/vpn/sec1")" = 700 ]
	pid=$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/sec1/state")
	[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" | grep -cF "$psk")" -eq 0 ]
	[ "$(tr '\0' '\n' <"/proc/$pid/environ" | grep -cF "$psk")" -eq 0 ]
}

@test "vpnserve: bad input gets a one-line error and leaves nothing" {
	while IFS='|' read -r args code; do
		# shellcheck disable=SC2086
		run --separate-stderr vs up $args
		[ "$status" -eq "$code" ] || { echo "$args -> $status: $stderr"; false; }
		[[ "$stderr" == omerta-vpnserve:* ]] || { echo "$args: $stderr"; false; }
	done <<-EOF
	--job a/b --endpoint-host 198.51.100.1|1
	--job 123456789012345678901234567890123 --endpoint-host 198.51.100.1|1
	--job .. --endpoint-host 198.51.100.1|1
	--job ok --endpoint-host 198.51.100.1 --port 0|1
	--job ok --endpoint-host 198.51.100.1 --port 65536|1
	--job ok --endpoint-host 198.51.100.1 --port abc|1
	--job ok --endpoint-host 198.51.100.1 --port-range 9-5|1
	--job ok --endpoint-host 198.51.100.1 --port-range 5|1
	--job ok --endpoint-host 198.51.100.1 --subnet 10.0.0.0/31|1
	--job ok --endpoint-host 198.51.100.1 --subnet fd00::/64|1
	--job ok --endpoint-host 198.51.100.1 --subnet banana|1
	--job ok --endpoint-host 198.51.100.1 --uplink nosuch0|1
	--job ok --endpoint-host 198.51.100.1 --uplink ../../x|1
	--job ok --endpoint-host 198.51.100.1 --dns x.y|1
	--job ok --endpoint-host 198.51.100.1 --keepalive -1|1
	--job ok --endpoint-host bad;host|1
	--job ok|2
	--endpoint-host 198.51.100.1|2
	--job ok --endpoint-host 198.51.100.1 --frob|2
	EOF
	run vs frob
	[ "$status" -eq 2 ]
	# An allocated subnet that the host already uses is refused.
	run --separate-stderr vs up --job ok --endpoint-host 198.51.100.1 --subnet 198.51.100.0/24
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"in use"* ]]
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn")" ]
}

@test "vpnserve: down never signals a process named in a state file that is not its wireguard-go" {
	sleep 60 &
	victim=$!
	start=$(awk '{print $22}' "/proc/$victim/stat")
	mkdir -p -m 700 "$OMERTA_RUN_DIR/vpn/forged"
	printf 'job_id=forged\nphase=up\npid=%s\npid_start=%s\n' "$victim" "$start" >"$OMERTA_RUN_DIR/vpn/forged/state"
	vs down --job forged
	[ ! -e "$OMERTA_RUN_DIR/vpn/forged" ]
	kill -0 "$victim"
	kill "$victim"
	wait "$victim" || true
}

@test "vpnserve: SIGTERM to an up waiting for the lock leaves nothing; the lock holder is unharmed" {
	mkdir -p "$OMERTA_RUN_DIR/vpn"
	flock "$OMERTA_RUN_DIR/vpn/.lock" sleep 2 &
	holder=$!
	sleep 0.3
	# Not through the vs function: $! must be omerta-vpnserve itself, not a subshell.
	ip netns exec "$REQ" omerta-vpnserve up --job sig1 --endpoint-host 198.51.100.1 --owner $$ >/dev/null &
	upid=$!
	sleep 0.3
	kill -TERM "$upid"
	st=0
	wait "$upid" || st=$?
	[ "$st" -eq 143 ]
	wait "$holder"
	[ ! -e "$OMERTA_RUN_DIR/vpn/sig1" ]
	# The lock is free again: the next up goes through.
	vs up --job sig2 --endpoint-host 198.51.100.1 --owner $$ >/dev/null
	vs down --job sig2
}

@test "vpnserve: jobs in two namespaces share a run directory but not ports; down from the wrong namespace is refused" {
	vs up --job nsa --endpoint-host 198.51.100.1 --port 51820 --owner $$ >/dev/null
	ip netns exec "$PROV2" omerta-vpnserve up --job nsb --endpoint-host 198.18.0.2 --port 51820 --no-internet --owner $$ >/dev/null
	[ "$(ip netns exec "$PROV2" omerta-vpnserve status --job nsb --json | jq .listen_port)" = 51820 ]
	run --separate-stderr vs down --job nsb
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"another network namespace"* ]]
	[ -d "$OMERTA_RUN_DIR/vpn/nsb" ]
	# gc in one namespace leaves the other's live job alone.
	run vs gc
	[ -z "$output" ]
	ip netns exec "$PROV2" omerta-vpnserve down --job nsb
	vs down --job nsa
}

@test "vpnserve: a reboot (namespace deleted, files kept) and a stale lock leave nothing gc cannot remove" {
	# A stale lock file from a dead process never blocks: the lock is flock(2).
	mkdir -p "$OMERTA_RUN_DIR/vpn"
	: >"$OMERTA_RUN_DIR/vpn/.lock"
	ip netns add "omt-$TAG-boot"
	ip -n "omt-$TAG-boot" link set lo up
	ip netns exec "omt-$TAG-boot" omerta-vpnserve up --job rb1 --endpoint-host 192.0.2.9 --no-internet --owner $$ >/dev/null
	pid=$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/rb1/state")
	# The "reboot": the namespace and its processes go, the files stay.
	kill -9 "$pid"
	ip netns del "omt-$TAG-boot"
	for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	[ -d "$OMERTA_RUN_DIR/vpn/rb1" ]
	run vs gc
	[ "$output" = "$(printf 'removed\trb1')" ]
	[ ! -e "$OMERTA_RUN_DIR/vpn/rb1" ]
}

# attack ADDR PORT: the client, as root, tries ADDR by TCP, UDP and ICMP. Prints
# what answered: "tcp" when the TCP service said hello, "icmp" for an echo reply.
attack() {
	local got
	got=$(ip netns exec "$PROV" timeout 5 nc -w 2 "$1" "$2" </dev/null 2>/dev/null || true)
	[ "$got" != hello ] || echo tcp
	printf 'x' | ip netns exec "$PROV" timeout 3 nc -u -w 1 "$1" "$2" >/dev/null 2>&1 || true
	ip netns exec "$PROV" ping -c 1 -W 1 "$1" >/dev/null 2>&1 && echo icmp
	return 0
}

@test "vpnserve, requester side: the job reaches the internet and none of the requester's host, LAN, metadata, uplink subnet or other jobs, on TCP, UDP and ICMP; each refusal counts" {
	T=$BATS_TEST_TMPDIR
	# The requester's host: a service on 0.0.0.0:8080 and a second public address.
	ip -n "$REQ" addr add 198.51.100.3/24 dev wan
	listen "$REQ" 0.0.0.0 8080 host
	listen "$LAN" 192.168.77.254 8082 lan
	listen "$LAN" 169.254.169.254 80 meta
	# A host on the uplink's own subnet (a home LAN sits there): the router.
	listen "$WAN" 198.51.100.254 8083 uplink
	listen "$INET" 203.0.113.10 9000 inet
	vs up --job near --endpoint-host 198.51.100.1 --owner $$ >"$T/near.conf"
	vs up --job f1 --endpoint-host 198.51.100.1 --owner $$ >"$T/c.conf"
	near_ip=$(vs status --job near --json | jq -r .server_ip)
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job f1 --timeout 10
	# The internet host: reached on all three, seen as the requester.
	[ "$(attack 203.0.113.10 9000 | tr '\n' ' ')" = "tcp icmp " ]
	grep -qx 'udp 198.51.100.1' "$T/inet.log"
	grep -qx 'tcp 198.51.100.1' "$T/inet.log"
	# The server's tunnel address answers the verify ping and the heartbeat only.
	sip=$(vs status --job f1 --json | jq -r .server_ip)
	ip netns exec "$PROV" ping -c 1 -W 2 "$sip" >/dev/null
	before=$(vs status --job f1 --json | jq -r .refused_packets)
	[ "$(attack "$sip" 8080)" = icmp ]
	n=0
	for t in 198.51.100.3:8080 192.168.77.1:8080 192.168.77.254:8082 \
		169.254.169.254:80 198.51.100.254:8083 "$near_ip:8080"; do
		got=$(attack "${t%:*}" "${t#*:}")
		echo "$t: ${got:-nothing}"
		[ -z "$got" ]
		n=$((n + 1))
	done
	for l in host lan meta uplink; do
		echo "$l: $(cat "$T/$l.log")"
		[ ! -s "$T/$l.log" ]
	done
	# Every try counted: at least one TCP SYN, one datagram and one echo each.
	after=$(vs status --job f1 --json | jq -r .refused_packets)
	echo "refused: $before -> $after"
	[ "$after" -ge $((before + 2 + 3 * n)) ]
	run vs status --job f1
	[ "$(cut -f11 <<<"$output")" = "$after" ]
	[ "$(cut -f12 <<<"$output")" = - ]
	# The uplink forwards for the jobs only: the router cannot use the requester
	# as its way into the LAN while a job runs.
	ip -n "$WAN" route add 192.168.77.0/24 via 198.51.100.1
	run ip netns exec "$WAN" ping -c 1 -W 1 192.168.77.254
	ip -n "$WAN" route del 192.168.77.0/24 via 198.51.100.1
	[ "$status" -ne 0 ]
	ip -n "$REQ" addr del 198.51.100.3/24 dev wan
}

@test "vpnserve --allow-dest: the one named service is reached, shown in the status; the rest stays refused; forwarding is restored at down" {
	T=$BATS_TEST_TMPDIR
	listen "$LAN" 192.168.77.254 8082 lan
	listen "$LAN" 169.254.169.254 80 meta
	vs up --job a1 --endpoint-host 198.51.100.1 --allow-dest 192.168.77.254 --allow-dest 192.0.2.128/25 \
		--owner $$ >"$T/c.conf"
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job a1 --timeout 10
	[ "$(attack 192.168.77.254 8082 | tr '\n' ' ')" = "tcp icmp " ]
	grep -qx 'tcp 192.168.77.1' "$T/lan.log"
	grep -qx 'udp 192.168.77.1' "$T/lan.log"
	[ -z "$(attack 169.254.169.254 80)" ]
	[ ! -s "$T/meta.log" ]
	run vs status --job a1 --json
	[ "$(jq -c .allow_dest <<<"$output")" = '["192.168.77.254/32","192.0.2.128/25"]' ]
	run vs status --job a1
	[ "$(cut -f12 <<<"$output")" = 192.168.77.254/32,192.0.2.128/25 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 1 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.ip_forward)" = 0 ]
	client_down "$PROV" omtc0
	clients=
	vs down --job a1
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 0 ]
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 0 ]
}

@test "vpnserve: forwarding that was on before omerta stays on after down; one job's down keeps another's" {
	ip netns exec "$REQ" sysctl -qw net.ipv4.conf.lan.forwarding=1
	vs up --job k1 --endpoint-host 198.51.100.1 --allow-dest 192.168.77.0/24 --owner $$ >/dev/null
	vs up --job k2 --endpoint-host 198.51.100.1 --owner $$ >/dev/null
	vs down --job k1
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 1 ]
	vs down --job k2
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.wan.forwarding)" = 0 ]
	lan=$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)
	ip netns exec "$REQ" sysctl -qw net.ipv4.conf.lan.forwarding=0
	[ "$lan" = 1 ]
}

@test "vpnserve --allow-dest: bad values are one line, exit 1, and leave nothing" {
	for v in 10.0.0.0/33 ::1 2001:db8::/32 nonsense 10.0.0.0/ ''; do
		run --separate-stderr vs up --job bad --endpoint-host 198.51.100.1 --allow-dest "$v" --owner $$
		echo "$v: $status $stderr"
		[ "$status" -eq 1 ]
		[ -z "$output" ]
		[ "$stderr" = "omerta-vpnserve: --allow-dest must be an IPv4 address or prefix, such as 192.168.1.10/32 (the tunnel carries IPv4 only)" ]
	done
	args=()
	for i in $(seq 9); do args+=(--allow-dest "192.168.$i.0/24"); done
	run --separate-stderr vs up --job bad --endpoint-host 198.51.100.1 "${args[@]}" --owner $$
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-vpnserve: --allow-dest: at most 8" ]
	# No route to it (a namespace of its own, with no routes): refused, nothing made.
	ip netns add "omt-$TAG-nr"
	run --separate-stderr ip netns exec "omt-$TAG-nr" omerta-vpnserve up --job bad --endpoint-host 198.51.100.1 --no-internet --allow-dest 203.0.113.0/24 --owner $$
	ip netns del "omt-$TAG-nr"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-vpnserve: --allow-dest 203.0.113.0/24: no route to it" ]
	run --separate-stderr vs status --allow-dest 10.0.0.1
	[ "$status" -eq 2 ]
	[ ! -e "$OMERTA_RUN_DIR/vpn/bad" ]
}

@test "vpnserve --dns: a resolver on the requester's LAN is reached on port 53 only" {
	T=$BATS_TEST_TMPDIR
	listen "$LAN" 192.168.77.254 53 dns
	listen "$LAN" 192.168.77.254 8082 lan
	vs up --job d1 --endpoint-host 198.51.100.1 --dns 192.168.77.254 --owner $$ >"$T/c.conf"
	grep -qx 'DNS = 192.168.77.254' "$T/c.conf"
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job d1 --timeout 10
	[ "$(attack 192.168.77.254 53)" = tcp ]
	grep -qx 'udp 192.168.77.1' "$T/dns.log"
	[ -z "$(attack 192.168.77.254 8082)" ]
	[ ! -s "$T/lan.log" ]
}

@test "vpnserve --forward-dns: the job's DNS is the server's tunnel address, answered by the requester's resolver, on the internet or its LAN" {
	T=$BATS_TEST_TMPDIR
	# The internet host's resolver answers every name with 203.0.113.10.
	vs up --job n1 --endpoint-host 198.51.100.1 --forward-dns-to 203.0.113.10 --owner $$ >"$T/c.conf"
	sip=$(vs status --job n1 --json | jq -r .server_ip)
	grep -qx "DNS = $sip" "$T/c.conf"
	[ "$(vs status --job n1 --json | jq -r .dns_forward)" = 203.0.113.10 ]
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job n1 --timeout 10
	run ip netns exec "$PROV" timeout 10 busybox nslookup example.com "$sip"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Address: 203.0.113.10"* ]]
	client_down "$PROV" omtc0
	clients=
	vs down --job n1
	# A resolver on the requester's LAN: the query arrives there, from the LAN side.
	listen "$LAN" 192.168.77.254 53 lan53
	vs up --job n2 --endpoint-host 198.51.100.1 --forward-dns-to 192.168.77.254 --owner $$ >"$T/c.conf"
	sip=$(vs status --job n2 --json | jq -r .server_ip)
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job n2 --timeout 10
	ip netns exec "$PROV" timeout 3 busybox nslookup example.com "$sip" || true
	grep -qx 'udp 192.168.77.1' "$T/lan53.log"
	[ "$(ip netns exec "$REQ" sysctl -n net.ipv4.conf.lan.forwarding)" = 1 ]
	client_down "$PROV" omtc0
	clients=
	vs down --job n2
	# --forward-dns takes the first resolver of the namespace's resolv.conf that is
	# not on loopback, and refuses when there is none.
	mkdir -p "/etc/netns/$REQ"
	printf 'nameserver 127.0.0.53\nnameserver 203.0.113.10\n' >"/etc/netns/$REQ/resolv.conf"
	vs up --job n3 --endpoint-host 198.51.100.1 --forward-dns --owner $$ >/dev/null
	[ "$(vs status --job n3 --json | jq -r .dns_forward)" = 203.0.113.10 ]
	vs down --job n3
	printf 'nameserver 127.0.0.53\n' >"/etc/netns/$REQ/resolv.conf"
	run --separate-stderr vs up --job n4 --endpoint-host 198.51.100.1 --forward-dns --owner $$
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "omerta-vpnserve: --forward-dns: /etc/resolv.conf names no IPv4 resolver off loopback (127.0.0.53 cannot be forwarded to); give --forward-dns-to IP" ]
	rm -rf "/etc/netns/$REQ"
	run --separate-stderr vs up --job n4 --endpoint-host 198.51.100.1 --forward-dns-to 127.0.0.1 --owner $$
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-vpnserve: --forward-dns-to must be an IPv4 unicast address off loopback" ]
	run vs up --job n4 --endpoint-host 198.51.100.1 --forward-dns --dns 192.0.2.53 --owner $$
	[ "$status" -eq 2 ]
	run vs up --job n4 --endpoint-host 198.51.100.1 --forward-dns --no-internet --owner $$
	[ "$status" -eq 2 ]
	[ ! -e "$OMERTA_RUN_DIR/vpn/n4" ]
}

# victim PORT: a UDP flow of the requester's own, 192.168.77.1:PORT to the LAN host's
# 7777 (which never answers), in the background; its verdict lands in $T/victim-PORT.
victim() {
	ip netns exec "$REQ" python3 "$BATS_TEST_DIRNAME/../lib/udp-victim.py" 192.168.77.1 "$1" 192.168.77.254 7777 6 \
		"$T/ready-$1" >"$T/victim-$1" &
	listeners="$listeners $!"
	for _ in $(seq 100); do [ -e "$T/ready-$1" ] && return 0; sleep 0.05; done
	return 1
}

@test "vpnserve: the job cannot forge ICMP errors into the requester's own flows (conntrack's 'related' is no way in)" {
	T=$BATS_TEST_TMPDIR
	listen "$LAN" 192.168.77.254 7777 peer
	vs up --job ic --endpoint-host 198.51.100.1 --owner $$ >"$T/c.conf"
	client_up "$PROV" omtc0 "$T/c.conf"
	vs wait --job ic --timeout 10
	# From the job, through the tunnel: the flow must not notice.
	victim 5555
	ip netns exec "$PROV" python3 "$BATS_TEST_DIRNAME/../lib/icmp-inject.py" 192.168.77.1 192.168.77.1 5555 192.168.77.254 7777
	# The same error from the LAN, where the flow's peer is, does end a flow: the
	# test can tell the two apart.
	victim 5556
	ip netns exec "$LAN" python3 "$BATS_TEST_DIRNAME/../lib/icmp-inject.py" 192.168.77.1 192.168.77.1 5556 192.168.77.254 7777
	for _ in $(seq 80); do [ -s "$T/victim-5555" ] && [ -s "$T/victim-5556" ] && break; sleep 0.1; done
	echo "from the job: $(cat "$T/victim-5555"); from the LAN: $(cat "$T/victim-5556")"
	[ "$(cat "$T/victim-5555")" = timeout ]
	[ "$(cat "$T/victim-5556")" = refused ]
}

@test "vpnserve: an uplink whose name cannot go into a filter rule is refused, and nothing is turned on" {
	ns=omt-$TAG-odd
	ip netns add "$ns"
	ip -n "$ns" link add 'up+1' type veth peer name odd0
	ip -n "$ns" addr add 198.51.100.77/24 dev 'up+1'
	ip -n "$ns" link set 'up+1' up
	ip -n "$ns" link set odd0 up
	ip -n "$ns" route add default via 198.51.100.254 dev 'up+1'
	run --separate-stderr ip netns exec "$ns" omerta-vpnserve up --job odd --endpoint-host 198.51.100.77 --owner $$
	f=$(ip netns exec "$ns" sysctl -n 'net.ipv4.conf.up+1.forwarding')
	ip netns del "$ns"
	echo "$status $stderr"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "omerta-vpnserve: the uplink's name 'up+1' cannot go into a filter rule (want [A-Za-z0-9_.-]); give --uplink" ]
	[ "$f" = 0 ]
	[ ! -e "$OMERTA_RUN_DIR/vpn/odd" ]
	[ -z "$(ls -A "$OMERTA_RUN_DIR/vpn" 2>/dev/null | grep -v '^\.lock$')" ]
}
