#!/usr/bin/env bats
# Issue 16, the parts that are done: the workload's environment (--env), its DNS
# by default (submit --create-vpn) and its stdin (--stdin), through real jobs.

load ../lib/common

setup_file() { world_up wl; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	rm -rf "/etc/netns/$REQ"
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
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
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

@test "execute --bundle: a hostile environment part (no NUL end, a bad name, too big, cut short) is refused with one line, 125, and leaves nothing" {
	vpn b1
	c=$T/b1.conf
	printf 'true\n' >"$T/w"
	bundle() { # bundle ENV_BYTES_FIELD ENV_FILE
		printf 'omerta-bundle 1 %s %s 0 %s\n' "$(wc -c <"$c")" "$(wc -c <"$T/w")" "$1"
		cat "$c" "$T/w" "$2"
	}
	printf 'A=1' >"$T/e1"
	printf '9A=1\0' >"$T/e2"
	printf 'A=1\0' >"$T/e3"
	printf '$(touch /tmp/omerta-pwned)=1\0' >"$T/e4"
	n=0
	while IFS='|' read -r field file want; do
		bundle "$field" "$T/$file" >"$T/bundle"
		run --separate-stderr ip netns exec "$PROV" omerta execute --bundle <"$T/bundle"
		echo "$field $file: $status $stderr"
		[ "$status" -eq 125 ]
		[ "$(grep -c . <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == "omerta execute: "*"$want"* ]]
		n=$((n + 1))
	done <<-EOF
	3|e1|an entry does not end in a NUL byte
	5|e2|--env wants NAME=VALUE
	99999|e3|bundle environment size must be a number from 0 to 65792
	8|e3|stdin ended early
	x|e3|bundle environment size must be a number
	29|e4|--env wants NAME=VALUE
	EOF
	[ "$n" -eq 6 ]
	[ ! -e /tmp/omerta-pwned ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

@test "submit --create-vpn: names resolve in the job by default (python's getaddrinfo), through the tunnel; python gets the memory it needs by default" {
	# The requester's resolver: the internet host's, which answers every name with
	# 203.0.113.10. ip netns exec shows this file as the namespace's resolv.conf.
	mkdir -p "/etc/netns/$REQ"
	printf 'nameserver 203.0.113.10\n' >"/etc/netns/$REQ/resolv.conf"
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local \
		--endpoint-host 198.51.100.1 --uplink wan --language python \
		--script 'import socket, subprocess
print(socket.getaddrinfo("files.example", 80, socket.AF_INET)[0][4][0])
print(open("/etc/resolv.conf").read().split()[1].startswith("10.200."))'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '203.0.113.10\nTrue')" ]
	# DNS by default opens no way around the tunnel: a root workload, kill switch
	# flushed, that asks the internet host's resolver directly is still caught.
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local \
		--endpoint-host 198.51.100.1 --uplink wan --root --json \
		--script "$FLUSH; ip route replace default via 10.66.0.1 dev eth0; nslookup files.example 203.0.113.10; echo escaped"
	rm -rf "/etc/netns/$REQ"
	[ "$status" -eq 121 ]
	[ "$(tail -n 1 <<<"$output" | jq -r .status)" = rogue_connection_detected ]
	run ! grep -q escaped <<<"$output"
}

@test "the guest's clock starts from the host's (omerta.now), not its RTC's whole seconds, and stays between the host's before and after" {
	vpn c1
	h0=$(date +%s.%N)
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/c1.conf" \
		--script 'cat /proc/cmdline; touch /tmp/t; stat -c %y /tmp/t; cut -d" " -f1 /proc/uptime'
	h1=$(date +%s.%N)
	echo "$output"
	[ "$status" -eq 0 ]
	now=$(grep -o 'omerta\.now=[0-9]*\.[0-9]*' <<<"${lines[0]}" | cut -d= -f2)
	[ -n "$now" ]
	# (busybox date has no %N; a file's mtime has the nanoseconds.)
	g=$(date -d "${lines[1]}" +%s.%N)
	# The guest's time, less the host's as QEMU started and the guest's uptime: what
	# passed between the touch and the uptime read only. From the RTC's whole
	# seconds instead it would be off by the fraction the RTC drops, up to 1 s.
	awk -v g="$g" -v n="$now" -v u="${lines[2]}" 'BEGIN { d = g - n - u; print "d", d; exit !(d > -0.05 && d < 0.25) }'
	# Against the host's own clock: after the job began and before it ended (the
	# guest lags the host by its own start, never leads it).
	awk -v g="$g" -v a="$h0" -v b="$h1" 'BEGIN { print "after", g - a, "before", b - g; exit !(g > a && g < b) }'
}

@test "execute --timeout counts the workload's own time and --boot-timeout the rest; the result says which ended the job" {
	vpn t1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t1.conf" --json --timeout 3 \
		--script 'echo started; sleep 60'
	echo "$output"
	[ "$status" -eq 124 ]
	r=$(jq -c 'select(.event=="result")' <<<"$output")
	[ "$(jq -r .status <<<"$r")" = timeout ]
	[ "$(jq -r .timeout_phase <<<"$r")" = workload ]
	[ "$(jq -c .timeouts_s <<<"$r")" = '{"boot":300,"workload":3}' ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" = started ]
	# The workload had its 3 s, whatever the boot took, and not much more.
	w=$(jq -r .timings_ms.workload <<<"$r")
	[ "$w" -ge 3000 ]
	[ "$w" -lt 10000 ]
	# A boot that cannot finish in 1 s whatever the kernel: the server is gone, so the
	# tunnel never comes up (omerta's own kernel reaches vpn_up in half a second).
	vpn t2
	ip netns exec "$REQ" omerta-vpnserve down --job t2
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t2.conf" --json --boot-timeout 1 \
		--script 'echo never'
	echo "$output"
	[ "$status" -eq 124 ]
	r=$(jq -c 'select(.event=="result")' <<<"$output")
	[ "$(jq -r .timeout_phase <<<"$r")" = boot ]
	[ "$(jq -c .timeouts_s <<<"$r")" = '{"boot":1,"workload":null}' ]
	[ -z "$(jq -r 'select(.event=="output").data' <<<"$output")" ]
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t2.conf" --boot-timeout 0 --script true
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta execute: --boot-timeout must be a number from 1 to 86400, not '0'" ]
}

@test "execute --memory below what the language needs is refused, naming the need" {
	vpn m1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/m1.conf" --language python --memory 200 --script 'print(1)'
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta execute: --memory 200 is below what python needs: 256 MiB" ]
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/m1.conf" --language sh --memory 100 --script true
	[ "$stderr" = "omerta execute: --memory 100 is below what sh needs: 128 MiB" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

@test "a commercial-style config (Address a /32 and an IPv6 /128, its resolver outside them, AllowedIPs 0.0.0.0/0 and ::/0) runs with no --server-ip, verified by the handshake; a server that never answers gives vpn_setup_failed and the workload never runs" {
	mkdir -p "/etc/netns/$REQ"
	printf 'nameserver 203.0.113.10\n' >"/etc/netns/$REQ/resolv.conf"
	ip netns exec "$REQ" omerta-vpnserve up --job c1 --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ \
		--forward-dns >"$T/c1.conf"
	srv=$(omerta-wgconf show "$T/c1.conf" | awk -F'\t' '$1=="server_ip"{print $2}')
	addr=$(sed -n 's/^Address = \([0-9.]*\)\/.*/\1/p' "$T/c1.conf")
	# The same keys and endpoint, written as a commercial VPN writes its configs.
	sed -e "s|^Address = .*|Address = $addr/32, fc00:bbbb:bbbb:bb01::1:2/128|" -e "s|^DNS = .*|DNS = $srv|" \
		-e 's|^AllowedIPs = .*|AllowedIPs = 0.0.0.0/0, ::/0|' "$T/c1.conf" >"$T/commercial.conf"
	grep -q '^DNS = ' "$T/commercial.conf" || sed -i "s|^\[Peer\]|DNS = $srv\n\n[Peer]|" "$T/commercial.conf"
	cat "$T/commercial.conf" | grep -v Key
	[ "$(omerta-wgconf show "$T/commercial.conf" | awk -F'\t' '$1=="server_ip"{print $2}')" = - ]
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/commercial.conf" --json --timeout 120 \
		--script 'nslookup example.com >/dev/null && echo resolved; echo ran'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(tail -n 1 <<<"$output")
	[ "$(jq -r .tunnel.verified_by <<<"$res")" = handshake ]
	[ "$(jq -r 'select(.event == "output") | .data' <<<"$output" | tr -d '\n')" = resolvedran ]
	# The server gone: no handshake ever completes.
	ip netns exec "$REQ" omerta-vpnserve down --job c1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/commercial.conf" --json --timeout 120 \
		--script 'echo workload-ran'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 120 ]
	[ "$(tail -n 1 <<<"$output" | jq -r .status)" = vpn_setup_failed ]
	run ! grep -q workload-ran <<<"$output"
}
