#!/usr/bin/env bats
# omerta-wgconf: the provider's gate for a requester's config.

load ../lib/common

setup() {
	priv=$(omerta-keygen)
	peer=$(omerta-keygen --pair | cut -f2)
	psk=$(omerta-keygen --psk)
	conf="$BATS_TEST_TMPDIR/client.conf"
	write_conf
}

teardown() {
	[ -z "${wgpid:-}" ] || kill "$wgpid" 2>/dev/null || true
	[ -z "${ns:-}" ] || ip netns del "$ns" 2>/dev/null || true
	assert_no_leftovers
}

# write_conf [EXTRA_INTERFACE_LINES] [ENDPOINT] [ALLOWED]
write_conf() {
	umask 077
	cat >"$conf" <<-EOF
	[Interface]
	PrivateKey = $priv
	Address = 10.77.0.2/32
	DNS = 10.77.0.1
	${1:-}

	[Peer]
	PublicKey = $peer
	PresharedKey = $psk
	Endpoint = ${2:-203.0.113.5:51820}
	AllowedIPs = ${3:-0.0.0.0/0}
	PersistentKeepalive = 25
	EOF
}

@test "wgconf: a sound config passes check silently" {
	run --separate-stderr omerta-wgconf check "$conf"
	show
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	run omerta-wgconf check - <"$conf"
	[ "$status" -eq 0 ]
}

@test "wgconf: every hook and key wg would not take is refused" {
	for line in "PreUp = x" "PostUp = curl x | sh" "PreDown = x" "PostDown = x" \
		"SaveConfig = true" "Table = off" "FwMark = 0x1" "Frobnicate = 1"; do
		write_conf "$line"
		run --separate-stderr omerta-wgconf check "$conf"
		[ "$status" -eq 1 ] || { echo "accepted: $line"; false; }
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == "omerta-wgconf: $conf:5: "* ]]
	done
}

@test "wgconf: refused endpoints name the reason" {
	while IFS='|' read -r ep why; do
		write_conf "" "$ep"
		run --separate-stderr omerta-wgconf check "$conf"
		[ "$status" -eq 1 ] || { echo "accepted: $ep"; false; }
		[[ "$stderr" == *"$why"* ]] || { echo "$ep: $stderr"; false; }
	done <<-EOF
	203.0.113.5|no port
	203.0.113.5:0|from 1 to 65535
	203.0.113.5:65536|from 1 to 65535
	127.0.0.1:51820|loopback
	0.0.0.0:51820|unspecified
	169.254.169.254:51820|link-local
	[fe80::1]:51820|link-local
	224.1.2.3:51820|multicast
	255.255.255.255:51820|broadcast
	10.0.0.1:51820|private
	172.20.0.1:51820|private
	192.168.1.1:51820|private
	100.64.0.1:51820|private
	[fd00::1]:51820|private
	[::1]:51820|loopback
	[64:ff9b::a9fe:a9fe]:51820|NAT64
	[64:ff9b:1::1]:51820|NAT64
	[2002:a00:1::1]:51820|6to4
	[::a00:1]:51820|IPv4-compatible
	[fec0::1]:51820|site-local
	[::ffff:169.254.169.254]:51820|link-local
	[2001::1]:51820|Teredo
	198.18.0.1:51820|benchmarking
	240.0.0.1:51820|reserved
	EOF
}

@test "wgconf: --allow-private-endpoint accepts a private endpoint" {
	write_conf "" "10.1.2.3:51820"
	run omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	run omerta-wgconf check --allow-private-endpoint "$conf"
	[ "$status" -eq 0 ]
}

@test "wgconf: an endpoint on a subnet the provider is attached to is refused" {
	need_root
	ns=omt-wgc-$$
	ip netns add "$ns"
	ip -n "$ns" link add omt-a type veth peer name omt-b
	ip -n "$ns" addr add 192.0.2.1/24 dev omt-a
	ip -n "$ns" link set omt-a up
	write_conf "" "192.0.2.77:51820"
	run --separate-stderr ip netns exec "$ns" "$(command -v omerta-wgconf)" check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"192.0.2.0/24"*"attached to"* ]] || [[ "$stderr" == *"192.0.2.1/24"*"attached to"* ]]
	run ip netns exec "$ns" "$(command -v omerta-wgconf)" check --allow-private-endpoint "$conf"
	[ "$status" -eq 0 ]
	write_conf "" "198.51.100.7:51820"
	run ip netns exec "$ns" "$(command -v omerta-wgconf)" check "$conf"
	[ "$status" -eq 0 ]
	ip netns del "$ns"
	ns=
}

@test "wgconf: a split tunnel is refused; halves that cover IPv4 pass" {
	for allowed in "10.0.0.0/8" "0.0.0.0/1" "::/0" "0.0.0.0/1, 192.0.0.0/2"; do
		write_conf "" "" "$allowed"
		run --separate-stderr omerta-wgconf check "$conf"
		[ "$status" -eq 1 ] || { echo "accepted: $allowed"; false; }
		[[ "$stderr" == *"split tunnel"* ]]
	done
	write_conf "" "" "0.0.0.0/1, 128.0.0.0/1, ::/0"
	run omerta-wgconf check "$conf"
	[ "$status" -eq 0 ]
}

@test "wgconf: missing and duplicate sections, malformed keys" {
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.0.0.2/32\n' "$priv" >"$conf"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"missing [Peer]"* ]]
	write_conf
	cat "$conf" "$conf" >"$conf.2"
	run --separate-stderr omerta-wgconf check "$conf.2"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"duplicate [Interface]"* ]]
	[[ "$stderr" == *"more than one [Peer]"* ]]
	sed "s|^PublicKey = .*|PublicKey = ${peer:0:40}|" "$conf" >"$conf.3"
	run --separate-stderr omerta-wgconf check "$conf.3"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"PublicKey is not a valid key"* ]]
}

@test "wgconf: every problem is printed, one per line" {
	write_conf "PostUp = x" "10.0.0.1:51820" "10.0.0.0/8"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 3 ]
}

@test "wgconf: oversized input, binary junk and overlong lines are refused without a crash" {
	head -c 70000 /dev/zero | tr '\0' 'a' >"$conf"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"larger than"* ]]
	for i in 1 2 3 4 5; do
		head -c 4000 /dev/urandom >"$conf"
		run --separate-stderr omerta-wgconf check "$conf"
		[ "$status" -eq 1 ]
	done
	{ printf '[Interface]\nAddress = '; head -c 5000 /dev/zero | tr '\0' '1'; echo; } >"$conf"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"longer than"* ]]
	: >"$conf"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"empty input"* ]]
}

@test "wgconf: a missing file is a one-line error, exit 1 (refused input, as in mkinitrd)" {
	run --separate-stderr omerta-wgconf check "$BATS_TEST_TMPDIR/nope.conf"
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"No such file"* ]]
}

@test "wgconf: show prints every field and never the private key" {
	run --separate-stderr omerta-wgconf show "$conf"
	[ "$status" -eq 0 ]
	[[ "$output" != *"$priv"* ]]
	[[ "$output" != *"$psk"* ]]
	[ "$(awk -F'\t' '$1=="public_key"{print $2}' <<<"$output")" = "$(printf '%s' "$priv" | wg pubkey)" ]
	[ "$(awk -F'\t' '$1=="endpoint"{print $2}' <<<"$output")" = "203.0.113.5:51820" ]
	[ "$(awk -F'\t' '$1=="private_key"{print $2}' <<<"$output")" = "(hidden)" ]
	[ "$(awk -F'\t' '$1=="mtu"{print $2}' <<<"$output")" = "-" ]
	run omerta-wgconf show --json "$conf"
	[ "$status" -eq 0 ]
	[[ "$output" != *"$priv"* ]]
	[[ "$output" != *"$psk"* ]]
	[ "$(jq -r .endpoint_ip <<<"$output")" = "203.0.113.5" ]
	[ "$(jq -r .endpoint_port <<<"$output")" = "51820" ]
	[ "$(jq -r '.address[0]' <<<"$output")" = "10.77.0.2/32" ]
	[ "$(jq -r .mtu <<<"$output")" = "null" ]
	[ "$(jq -r .peer_public_key <<<"$output")" = "$peer" ]
}

@test "wgconf: show refuses a config that fails check" {
	write_conf "PostUp = x"
	run omerta-wgconf show "$conf"
	[ "$status" -eq 1 ]
	[ -z "$output" ] || [[ "$output" == omerta-wgconf:* ]]
}

@test "wgconf: --endpoint overrides the config's endpoint, under the same rules" {
	run omerta-wgconf show --json --endpoint 198.51.100.9:4000 "$conf"
	[ "$status" -eq 0 ]
	[ "$(jq -r .endpoint <<<"$output")" = "198.51.100.9:4000" ]
	run omerta-wgconf check --endpoint 10.0.0.9:4000 "$conf"
	[ "$status" -eq 1 ]
}

@test "wgconf: host name endpoints are refused unless resolved once and pinned" {
	write_conf "" "localhost:51820"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"--resolve"* ]]
	run --separate-stderr omerta-wgconf check --resolve "$conf"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"resolves to 127.0.0.1, which is loopback"* ]]
	run omerta-wgconf show --json --resolve --allow-private-endpoint "$conf"
	[ "$status" -eq 0 ]
	[ "$(jq -r .endpoint <<<"$output")" = "127.0.0.1:51820" ]
	[ "$(jq -r .endpoint_host <<<"$output")" = "localhost" ]
	run omerta-wgconf setconf --resolve --allow-private-endpoint "$conf"
	[[ "$output" == *"Endpoint = 127.0.0.1:51820"* ]]
}

@test "wgconf: setconf output is taken by the real wg setconf on a real interface" {
	need_root
	ns=omt-wgs-$$
	ip netns add "$ns"
	# wireguard-go, since this host kernel has no wireguard module.
	WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go omtwg0 >/dev/null 2>&1 &
	wgpid=$!
	for _ in $(seq 50); do ip netns exec "$ns" wg show omtwg0 >/dev/null 2>&1 && break; sleep 0.1; done
	omerta-wgconf setconf "$conf" >"$BATS_TEST_TMPDIR/set.conf"
	ip netns exec "$ns" wg setconf omtwg0 "$BATS_TEST_TMPDIR/set.conf"
	run ip netns exec "$ns" wg show omtwg0 dump
	show
	[ "$status" -eq 0 ]
	# Interface line: private key, public key, port, fwmark; then the peer line.
	[ "$(sed -n 1p <<<"$output" | cut -f2)" = "$(printf '%s' "$priv" | wg pubkey)" ]
	peerline=$(sed -n 2p <<<"$output")
	[ "$(cut -f1 <<<"$peerline")" = "$peer" ]
	[ "$(cut -f2 <<<"$peerline")" = "$psk" ]
	[ "$(cut -f3 <<<"$peerline")" = "203.0.113.5:51820" ]
	[ "$(cut -f4 <<<"$peerline")" = "0.0.0.0/0" ]
	[ "$(cut -f8 <<<"$peerline")" = "25" ]
	kill "$wgpid"
	wait "$wgpid" || true
	wgpid=
	ip netns del "$ns"
	ns=
}

@test "wgconf: usage errors exit 2" {
	run omerta-wgconf
	[ "$status" -eq 2 ]
	run omerta-wgconf frob "$conf"
	[ "$status" -eq 2 ]
	run omerta-wgconf check
	[ "$status" -eq 2 ]
	run omerta-wgconf check --json "$conf"
	[ "$status" -eq 2 ]
	run omerta-wgconf check "$conf" "$conf"
	[ "$status" -eq 2 ]
}
