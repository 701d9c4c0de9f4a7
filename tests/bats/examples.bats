#!/usr/bin/env bats
# The examples are real pipelines; make check runs them.

load ../lib/common

teardown() { assert_no_leftovers; }

@test "examples: demo.sh sends the provider's traffic through a real per-job VPN" {
	need_root
	run sh "$OM_ROOT/examples/demo.sh"
	show
	[ "$status" -eq 0 ]
	[[ "$output" == *"sees the provider directly as: 192.0.2.2"* ]]
	[[ "$output" == *"tunnelled traffic as: 198.51.100.1"* ]]
	[[ "$output" == *"connected yes"* ]]
}

@test "examples: gate.sh sorts a batch of configs into ok and refused" {
	d=$BATS_TEST_TMPDIR
	k=$(omerta-keygen)
	p=$(omerta-keygen --pair | cut -f2)
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.0.0.2/32\n[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.9:51820\nAllowedIPs = 0.0.0.0/0\n' "$k" "$p" >"$d/good.conf"
	sed 's/^Address.*/&\nPostUp = id/' "$d/good.conf" >"$d/hook.conf"
	run sh "$OM_ROOT/examples/gate.sh" "$d/good.conf" "$d/hook.conf"
	[ "$status" -eq 0 ]
	[ "$(sed -n 1p <<<"$output")" = "$(printf '%s\tok\t203.0.113.9:51820' "$d/good.conf")" ]
	[[ "$(sed -n 2p <<<"$output")" == "$d/hook.conf"$'\t'"refused"$'\t'*"PostUp is refused"* ]]
}
