#!/usr/bin/env bats
# The door's default rate limits against an honest job (issue 15): a 100 MiB
# download through a real tunnel, in a jail with omerta execute's options and the
# jail's default limits, is never held back. About a minute here (TCG); run by make
# check-long. The limits' figures: bench/door-rate.sh, bench/results/.

load ../lib/common

setup_file() {
	world_up dl
	mkdir -p "$OMERTA_RUN_DIR"
}

teardown_file() {
	rm -f "${TMPDIR:-/tmp}/omt-world-$TAG/www/100m"
	world_down
}

setup() { T=$BATS_TEST_TMPDIR; }

teardown() { vm_teardown; }

conf_of() { omerta-wgconf show "$T/$1.conf" | awk -F'\t' -v k="$2" '$1==k{print $2}'; }

jailed() {
	ip netns exec "$PROV" omerta-jail run --job "$1" --endpoint "$(conf_of "$1" endpoint)" \
		--mtu 1420 --peer-key "$(conf_of "$1" peer_public_key)" --events-fd 5 -- \
		omerta-watch --events-fd 4 --vm-events-fd 3 -- \
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/$1.img" --events-fd 3 --timeout 300 \
		4>"$T/$1.ev" 5>"$T/$1.jail" >"$T/$1.out" 2>"$T/$1.err"
}

@test "door: an honest 100 MiB download through a job never trips the default rate limits" {
	# Sparse: 100 MiB of zeros that take no disk, served by the internet host.
	truncate -s 100M "${TMPDIR:-/tmp}/omt-world-$TAG/www/100m"
	ip netns exec "$REQ" omerta-vpnserve up --job dl --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/dl.conf"
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/dl.conf" -o "$T/dl.img" \
		--script 'wget -q -O - http://203.0.113.10/100m | wc -c'
	run jailed dl
	cat "$T/dl.ev" "$T/dl.out" "$T/dl.err"
	grep -v door_stats "$T/dl.jail"
	last=$(grep '"event":"door_stats"' "$T/dl.jail" | tail -n 1)
	echo "$last"
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.event=="watch_result").status' "$T/dl.ev")" = completed ]
	[ "$(tr -d ' \n' <"$T/dl.out")" = 104857600 ]
	# The defaults were on (omerta execute passes none) and held nothing back.
	[ "$(jq -r 'select(.event=="jail_ready").rate_bytes_per_s' "$T/dl.jail")" = 67108864 ]
	[ "$(jq -r 'select(.event=="jail_ready").handshakes_per_min' "$T/dl.jail")" = 60 ]
	[ "$(jq -r .rate_drops <<<"$last")" -eq 0 ]
	[ "$(jq -r .handshake_drops <<<"$last")" -eq 0 ]
	[ -z "$(grep '"event":"rate_limited"' "$T/dl.jail")" ]
	# It was a real 100 MiB through the door.
	[ "$(jq -r .rx_bytes <<<"$last")" -gt 104857600 ]
}
