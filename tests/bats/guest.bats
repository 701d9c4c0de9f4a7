#!/usr/bin/env bats
# omerta-guest, the guest's boot helper, driven on the host in a scratch namespace
# against the host's own nf_tables and rtnetlink. (Its WireGuard step needs the kernel
# module, which this host lacks; every VM test covers it in the guest.)

load ../lib/common

G="$BATS_TEST_DIRNAME/../../initramfs/omerta-guest"

setup() {
	ns=omt-gst-$$
}

teardown() {
	ip netns del "$ns" 2>/dev/null || true
	# The attacker's snippet writes its binary to /tmp, as it does in the guest.
	rm -f /tmp/nft-flush
	assert_no_leftovers
}

@test "guest: the kill switch is the documented table, rule for rule, as nft -f would load it" {
	need_root
	ip netns add "$ns"
	ip netns exec "$ns" "$G" killswitch 10.66.0.1 51820
	ip netns exec "$ns" nft list ruleset >"$BATS_TEST_TMPDIR/ours"
	ip netns exec "$ns" nft flush ruleset
	ip netns exec "$ns" nft -f - <<-'EOF'
	table inet omerta {
	 chain output {
	  type filter hook output priority 0; policy drop;
	  oifname "lo" accept
	  oifname "wg0" accept
	  oifname "eth0" ip daddr 10.66.0.1 udp dport 51820 accept
	  counter drop
	 }
	 chain input {
	  type filter hook input priority 0; policy drop;
	  iifname "lo" accept
	  iifname "wg0" accept
	  iifname "eth0" ip saddr 10.66.0.1 udp sport 51820 accept
	  counter drop
	 }
	 chain forward {
	  type filter hook forward priority 0; policy drop;
	 }
	}
	EOF
	ip netns exec "$ns" nft list ruleset >"$BATS_TEST_TMPDIR/ref"
	diff -u "$BATS_TEST_TMPDIR/ref" "$BATS_TEST_TMPDIR/ours"
	grep -q 'policy drop' "$BATS_TEST_TMPDIR/ours"
}

@test "guest: the tests' attacker (build/nft-flush) removes the kill switch, as nft flush ruleset would" {
	need_root
	ip netns add "$ns"
	ip netns exec "$ns" "$G" killswitch 10.66.0.1 51820
	ip netns exec "$ns" nft add table ip other
	[ "$(ip netns exec "$ns" nft list tables | wc -l)" -eq 2 ]
	# The snippet the attacking workloads run, under busybox sh as in the guest.
	run ip netns exec "$ns" busybox sh -c "$FLUSH"
	[ "$status" -eq 0 ]
	[ -z "$(ip netns exec "$ns" nft list ruleset)" ]
	# With nothing left it still succeeds; refused (not root), it says so by its status.
	ip netns exec "$ns" "$OM_ROOT/build/nft-flush"
	ip netns exec "$ns" "$G" killswitch 10.66.0.1 51820
	run ip netns exec "$ns" setpriv --reuid=65534 --regid=65534 --clear-groups "$OM_ROOT/build/nft-flush"
	[ "$status" -eq 1 ]
	[ -n "$(ip netns exec "$ns" nft list tables)" ]
	[ "$(wc -c <"$OM_ROOT/build/nft-flush")" -lt 4096 ]
}

@test "guest: the kill switch drops and counts what is not for the door; drops reports it" {
	need_root
	ip netns add "$ns"
	ip netns exec "$ns" "$G" killswitch 10.66.0.1 51820
	run ip netns exec "$ns" "$G" drops
	[ "$status" -eq 0 ]
	[ "$output" = "out=0 in=0" ]
	ip netns exec "$ns" ip link add eth0 type veth peer name omtp0
	ip netns exec "$ns" "$G" net 10.66.0.2/30
	ip netns exec "$ns" ip link set omtp0 up
	# Not the door's port, and not UDP: both dropped on the way out.
	run ip netns exec "$ns" ping -c 2 -W 1 10.66.0.1
	[ "$status" -ne 0 ]
	printf x | ip netns exec "$ns" nc -u -w 1 10.66.0.1 53 || true
	run ip netns exec "$ns" "$G" drops
	[ "$status" -eq 0 ]
	out=$(sed -n 's/^out=\([0-9]*\) in=[0-9]*$/\1/p' <<<"$output")
	[ "$out" -ge 3 ]
	# lo passes.
	ip netns exec "$ns" ping -c 1 -W 1 127.0.0.1 >/dev/null
	# A table removed by a root workload reads as zero, not as an error.
	ip netns exec "$ns" nft flush ruleset
	run ip netns exec "$ns" "$G" drops
	[ "$output" = "out=0 in=0" ]
}

@test "guest: net brings lo and eth0 up with exactly the static address, and refuses a second time" {
	need_root
	ip netns add "$ns"
	ip netns exec "$ns" ip link add eth0 type veth peer name omtp0
	ip netns exec "$ns" "$G" net 10.66.0.2/30
	run ip netns exec "$ns" ip -o -4 addr show dev eth0
	[[ "$output" == *"inet 10.66.0.2/30 "* ]]
	[ "$(ip netns exec "$ns" ip -o -4 addr show | grep -vc ' lo ')" -eq 1 ]
	ip netns exec "$ns" ip link show lo | grep -q 'UP'
	ip netns exec "$ns" ip link show eth0 | grep -q '<.*UP.*>'
	run ip netns exec "$ns" "$G" net 10.66.0.2/30
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "omerta-guest: eth0: "* ]]
}

@test "guest: bad input is one line and exit 1; no arguments is usage and exit 2" {
	need_root
	ip netns add "$ns"
	for args in "killswitch 10.66.0.1 0" "killswitch 10.66.0.1 65536" "killswitch 10.66.0 51820" \
		"killswitch 10.66.0.1 51820x" "net 10.66.0.2" "net 10.66.0.2/33" "net 10.66.0.999/30" \
		"wg /nonexistent 1420" "modules /nonexistent" "ports"; do
		# shellcheck disable=SC2086
		run ip netns exec "$ns" "$G" $args
		echo "$args -> $status: $output"
		if [ "$args" = ports ]; then [ "$status" -eq 2 ]; continue; fi
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "omerta-guest: "* ]]
	done
	[ -z "$(ip netns exec "$ns" nft list ruleset)" ]
	run "$G"
	[ "$status" -eq 2 ]
	[[ "$output" == usage:* ]]
}

@test "guest: a wg config with a malformed key is refused before any interface exists" {
	need_root
	ip netns add "$ns"
	printf '[Interface]\nPrivateKey = %s\n\n[Peer]\nPublicKey = short=\nEndpoint = 10.66.0.1:51820\n' \
		"$(omerta-keygen)" >"$BATS_TEST_TMPDIR/wg.conf"
	run ip netns exec "$ns" "$G" wg "$BATS_TEST_TMPDIR/wg.conf" 1420 10.77.0.2/32
	[ "$status" -eq 1 ]
	[ "$output" = "omerta-guest: wg: bad PublicKey" ]
	# The key itself never appears in an error.
	[[ "$output" != *"$(sed -n 's/^PrivateKey = //p' "$BATS_TEST_TMPDIR/wg.conf")"* ]]
	[ "$(ip netns exec "$ns" ip -o link | grep -vc ': lo:')" -eq 0 ]
}
