#!/usr/bin/env bats
# Issue 16, the parts that are done: the workload's environment (--env) and its
# stdin (--stdin), through real jobs (execute and submit, local and over SSH).

load ../lib/common

setup_file() { world_up wl; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

@test "execute --stdin: 3 MiB of every byte value reach the workload exact, then its EOF; without --stdin it reads nothing" {
	vpn s1
	python3 -c 'import os,sys; sys.stdout.buffer.write(bytes(range(256)) * 4096 + os.urandom(2 * 1048576))' >"$T/in"
	want=$(sha256sum <"$T/in" | cut -d' ' -f1)
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/s1.conf" --stdin \
		--script 'sha256sum | cut -d" " -f1; echo eof' <"$T/in"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\neof' "$want")" ]
	# Without --stdin: empty, at once (the workload would wait for ever otherwise).
	vpn s2
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/s2.conf" --timeout 120 \
		--script 'wc -c | tr -d " "' <"$T/in"
	[ "$status" -eq 0 ] && [ "$output" = 0 ]
	# --stdin cannot share standard input with the config or the script.
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config - --stdin --script true <"$T/s2.conf"
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta execute: --stdin gives standard input to the workload: --vpn-config and --script-file cannot read it too" ]
}

@test "submit --stdin --env, local: a pipe's bytes and EOF reach the workload, with its environment" {
	run --separate-stderr bash -c 'printf "one\ntwo" | ip netns exec "$1" omerta submit --create-vpn --provider local \
		--endpoint-host 198.51.100.1 --uplink wan --stdin --env GREETING="hi there" \
		--script "echo \"\$GREETING\"; cat; echo; echo eof"' _ "$REQ"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'hi there\none\ntwo\neof')" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
		--uplink wan --stdin --script-file - <<<"true"
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta submit: --stdin gives standard input to the workload: --script-file - cannot read it too" ]
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
		--uplink wan --env 9X=1 --script true
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta submit: --env wants NAME=VALUE, NAME of letters, digits and _ (not first a digit), at most 128 bytes" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
}
