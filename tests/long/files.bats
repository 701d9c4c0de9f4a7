#!/usr/bin/env bats
# Issue 16's sizes: 1 GiB in through --input and 1 GiB out through --output, at
# --memory 256 (the guest could not hold either in its RAM), byte-exact, through a
# real job. A few minutes here (TCG); run by make check-long. The MiB/s of both,
# beside the stdout channel and a host cp: bench/files.sh, bench/results/.

load ../lib/common

setup_file() {
	world_up fb
	mkdir -p "$OMERTA_RUN_DIR"
}

teardown_file() { world_down; }

setup() { T=$BATS_TEST_TMPDIR; }

teardown() {
	vm_teardown
	[ -z "$(ls -A "$OMERTA_DISK_DIR" 2>/dev/null)" ]
}

@test "1 GiB in and 1 GiB out at --memory 256: byte-exact, the job's RAM never holds it" {
	ip netns exec "$REQ" omerta-vpnserve up --job big --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/big.conf"
	mkdir "$T/in"
	head -c 1073741824 /dev/urandom >"$T/in/big.bin"
	want=$(sha256sum <"$T/in/big.bin" | cut -d' ' -f1)
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/big.conf" --memory 256 --timeout 3000 \
		--input "$T/in/big.bin" --output "$T/out" --json --script '
		set -e
		sha256sum big.bin | cut -d" " -f1
		cp big.bin "$OMERTA_OUT/copy.bin"
		free -m | awk "/^Mem:/{print \"mem\", \$2}"'
	echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(tail -n 1 <<<"$output")
	echo "$res"
	got=$(jq -r 'select(.event == "output" and .stream == "stdout") | .data' <<<"$output" | tr -d '\n')
	[ "${got%%mem*}" = "$want" ]
	# The guest's RAM is far below what went through it.
	[ "${got##*mem }" -lt 256 ]
	[ "$(jq -r .output.status <<<"$res")" = returned ]
	[ "$(stat -c %s "$T/out/copy.bin")" -eq 1073741824 ]
	cmp "$T/in/big.bin" "$T/out/copy.bin"
	ip netns exec "$REQ" omerta-vpnserve down --job big
}
