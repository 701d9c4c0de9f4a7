#!/usr/bin/env bats
# omerta execute / submit / vpn / status / gc: the acceptance of the workflows, in the
# test world (requester, provider and internet namespaces).

load ../lib/common

setup_file() { world_up wf; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -z "${refpid:-}" ] || kill "$refpid" 2>/dev/null || true
	sshd_down
	ip -n "$REQ" link del omtref0 2>/dev/null || true
	ip netns exec "$REQ" nft delete table ip omtref 2>/dev/null || true
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

# A reference server that omerta did not make: wireguard-go, wg and nft by hand.
reference_server() {
	local skey ckey
	skey=$(wg genkey)
	ckey=$(wg genkey)
	wg_userspace "$REQ" omtref0 || { refpid=$wg_pid; return 1; }
	refpid=$wg_pid
	printf '%s' "$skey" >"$T/ref.key"
	ip netns exec "$REQ" wg set omtref0 listen-port 52900 private-key "$T/ref.key" \
		peer "$(printf '%s' "$ckey" | wg pubkey)" allowed-ips 10.201.0.2/32
	ip -n "$REQ" addr add 10.201.0.1/24 dev omtref0
	ip -n "$REQ" link set omtref0 up
	ip netns exec "$REQ" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$REQ" nft -f - <<-NFT
	table ip omtref {
		chain post {
			type nat hook postrouting priority srcnat;
			oifname "wan" ip saddr 10.201.0.2 masquerade
		}
	}
	NFT
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.201.0.2/24\n[Peer]\nPublicKey = %s\nEndpoint = 198.51.100.1:52900\nAllowedIPs = 0.0.0.0/0\nPersistentKeepalive = 5\n' \
		"$ckey" "$(printf '%s' "$skey" | wg pubkey)" >"$T/ref.conf"
}

who='printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1'

@test "execute: through omerta-vpnserve and through a hand-made server, the internet host sees the requester; output and status exact" {
	vpn a1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/a1.conf" \
		--script "printf 'tab\\there back\\\\\\\\slash\\n'; $who; exit 7"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 7 ]
	[ "$output" = "$(printf 'tab\there back\\\\slash\n198.51.100.1')" ]
	reference_server
	run ip netns exec "$PROV" omerta execute --vpn-config "$T/ref.conf" --script "$who" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.event=="output").data' <<<"$output")" = 198.51.100.1 ]
	r=$(jq -c 'select(.event=="result")' <<<"$output")
	[ "$(jq -r .status <<<"$r")" = completed ]
	[ "$(jq -r .exit_code <<<"$r")" = 0 ]
	[ "$(jq -r '.timings_ms | [.validate,.image,.jail,.boot_to_vpn_up,.workload,.teardown,.total] | map(type) | unique | .[0]' <<<"$r")" = number ]
	[ "$(jq -r .tunnel.rx_bytes <<<"$r")" -gt 0 ]
	# The door's default limits hold every job, and an honest one trips neither.
	[ "$(jq -r .tunnel.rate_limit.bytes_per_s <<<"$r")" -eq 67108864 ]
	[ "$(jq -r .tunnel.rate_limit.handshakes_per_min <<<"$r")" -eq 60 ]
	[ "$(jq -r '.tunnel.rate_drops + .tunnel.handshake_drops + .tunnel.queue_drops' <<<"$r")" -eq 0 ]
	# The result is the last line, and vpn_up came before the output.
	[ "$(tail -n 1 <<<"$output" | jq -r .event)" = result ]
	[ "$(jq -r .event <<<"$output" | grep -n -e vpn_up -e output | head -n 1 | cut -d: -f2)" = vpn_up ]
}

@test "execute: a record written while the control port is held a moment still arrives: the exit status is exact" {
	# A virtio port takes one opener at a time; the heartbeat holds it while it writes.
	# Here a process the workload leaves behind holds it for half a second across the
	# workload's exit, so /init's "exit" record meets EBUSY and must wait for it.
	vpn h1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/h1.conf" --root --json \
		--script 'for d in /sys/class/virtio-ports/*; do [ "$(cat "$d/name")" = omerta.ctl ] && c=/dev/${d##*/}; done
(exec 3>>"$c"; sleep 0.6) </dev/null >/dev/null 2>&1 &
sleep 0.1; echo held "$c"; exit 3'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 3 ]
	[[ "$(jq -r 'select(.event=="output").data' <<<"$output")" == "held /dev/vport"* ]]
	r=$(jq -c 'select(.event=="result")' <<<"$output")
	[ "$(jq -r .status <<<"$r")" = completed ]
	[ "$(jq -r .exit_code <<<"$r")" = 3 ]
	# The heartbeat's last record (the drop counters, -1 when none came) came too.
	[ "$(jq -r 'select(.event=="exited").guest_drops.out' <<<"$output")" -ge 0 ]
}

@test "execute: a root workload that goes around the tunnel: rogue_connection_detected, 121, nothing reaches the internet host" {
	vpn b1
	ip netns exec "$INET" tcpdump -i wan -n -w "$T/inet.pcap" 'host 192.0.2.2' 2>/dev/null &
	tp=$!
	sleep 0.5
	run ip netns exec "$PROV" omerta execute --vpn-config "$T/b1.conf" --root --json \
		--script "$FLUSH; "'ip route replace default via 10.66.0.1 dev eth0; printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 203.0.113.10 80; echo escaped'
	kill "$tp"
	wait "$tp" || true
	[ "$status" -eq 121 ]
	r=$(jq -c 'select(.event=="result")' <<<"$output")
	[ "$(jq -r .status <<<"$r")" = rogue_connection_detected ]
	[ "$(jq -r .detection_ms <<<"$r")" -lt 1000 ]
	[ "$(jq -r .blocked.frames <<<"$r")" -ge 1 ]
	[ "$(tcpdump -r "$T/inet.pcap" -n 2>/dev/null | wc -l)" -eq 0 ]
}

@test "execute: a wrong server key: the workload never runs, vpn_setup_failed, 120, in under 60 s" {
	vpn c1
	sed -i "s|^PublicKey = .*|PublicKey = $(omerta-keygen --pair | cut -f2)|" "$T/c1.conf"
	start=$(date +%s)
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/c1.conf" --script 'echo RAN'
	[ "$status" -eq 120 ]
	[ $(($(date +%s) - start)) -lt 60 ]
	[ -z "$output" ]
}

@test "execute: the server killed mid-job: vpn_disconnected, 122, within 30 s; a job idling 40 s completes" {
	vpn d1
	ip netns exec "$PROV" omerta execute --vpn-config "$T/d1.conf" --script 'sleep 120' --json >"$T/d1.out" &
	e=$!
	for _ in $(seq 150); do grep -q '"event":"vpn_up"' "$T/d1.out" 2>/dev/null && break; sleep 0.2; done
	grep -q '"event":"vpn_up"' "$T/d1.out"
	kill -9 "$(sed -n 's/^pid=//p' "$OMERTA_RUN_DIR/vpn/d1/state")"
	killed=$(date +%s)
	st=0
	wait "$e" || st=$?
	[ "$st" -eq 122 ]
	[ $(($(date +%s) - killed)) -le 30 ]
	[ "$(jq -r 'select(.event=="result").status' "$T/d1.out")" = vpn_disconnected ]
	vpn d2
	run ip netns exec "$PROV" omerta execute --vpn-config "$T/d2.conf" --script 'sleep 40; echo idled'
	[ "$status" -eq 0 ]
	[ "$output" = idled ]
}

@test "execute: bad input is refused with 125 in under 5 s, leaving nothing behind" {
	vpn e1
	c=$T/e1.conf
	sed 's/^Address.*/&\nPostUp = id/' "$c" >"$T/hook.conf"
	sed 's/^AllowedIPs.*/AllowedIPs = 10.0.0.0\/8/' "$c" >"$T/split.conf"
	sed 's/^Endpoint.*/Endpoint = 192.0.2.77:51820/' "$c" >"$T/local.conf"
	n=0
	while IFS='|' read -r args; do
		start=$(date +%s%N)
		# shellcheck disable=SC2086
		run --separate-stderr ip netns exec "$PROV" omerta execute $args
		took=$((($(date +%s%N) - start) / 1000000))
		[ "$status" -eq 125 ] || { echo "$args -> $status: $stderr"; false; }
		[ "$(grep -c . <<<"$stderr")" -eq 1 ] || { echo "$args: $stderr"; false; }
		[[ "$stderr" == "omerta execute: "* ]]
		[ "$took" -lt 5000 ]
		n=$((n + 1))
	done <<-EOF
	--script true
	--vpn-config $T/hook.conf --script true
	--vpn-config $T/local.conf --script true
	--vpn-config $T/split.conf --script true
	--vpn-config $T/missing.conf --script true
	--vpn-config $c --script-file $T/missing.sh
	--vpn-config $c --script true --cpu abc
	--vpn-config $c --script true --cpu 0
	--vpn-config $c --script true --memory 0
	--vpn-config $c --script true --memory 99999999
	--vpn-config $c --script true --job-id a/b
	--vpn-config $c --script true --job-id 123456789012345678901234567890123
	--vpn-config $c --script true --language cobol
	--vpn-config $c --script true --frobnicate
	--vpn-config $c --script true --env 1A=x
	--vpn-config $c --script true --env NOEQUALS
	--vpn-config $c --script true --env OMERTA_OUT=x
	--vpn-config $c --script true --env A=1 --env A=2
	--bundle --env A=1
	--vpn-config $c --script true --language python --memory 128
	EOF
	[ "$n" -eq 20 ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ ! -d "$OMERTA_CACHE_DIR" ] || [ -z "$(find "$OMERTA_CACHE_DIR" -name '*.tmp.*')" ]
}

@test "submit --provider local: the job's output shows the requester's address; no tunnel is left" {
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local \
		--endpoint-host 198.51.100.1 --uplink wan --script "$who; printf '%s|' \"\$A\" \"\$B\"; exit 6" \
		--description "acceptance 6" --env A=1 --env "B=x'y \$z
w"
	echo "$stderr"
	[ "$status" -eq 6 ]
	[ "$output" = "$(printf '198.51.100.1\n1|x'"'"'y $z\nw|')" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
	[ "$(ip -n "$REQ" -o link show | grep -c omv || true)" -eq 0 ]
	run ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
		--uplink wan --script true --json --description "described"
	[ "$(jq -r 'select(.event=="result").description' <<<"$output")" = described ]
	# Local mode does not weaken the checks for any other config.
	vpn f1
	run ip netns exec "$REQ" omerta execute --vpn-config "$T/f1.conf" --script true --local-vpn --job-id other
	[ "$status" -eq 125 ]
}

@test "vpn status, vpn test, status and gc" {
	vpn g1
	run ip netns exec "$REQ" omerta vpn status --job-id g1 --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .role <<<"$output")" = requester ]
	[ "$(jq -r .connected <<<"$output")" = false ]
	run ip netns exec "$PROV" omerta vpn test --vpn-config "$T/g1.conf" --json
	show
	[ "$status" -eq 0 ]
	[ "$(jq -r .ok <<<"$output")" = true ]
	[ "$(jq -r '.rtt_ms | type' <<<"$output")" = number ]
	run ip netns exec "$REQ" omerta vpn status --job-id g1
	[ "$(cut -f1,2 <<<"$output")" = "$(printf 'requester\tg1')" ]
	run ip netns exec "$REQ" omerta status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.check=="qemu-system-x86_64").status' <<<"$output")" = ok ]
	[ "$(jq -r 'select(.check=="accel").detail' <<<"$output")" = "tcg (no usable KVM: /dev/kvm $([ -e /dev/kvm ] && echo present || echo absent), no vmx/svm)" ] ||
		grep -qE ' (vmx|svm)' /proc/cpuinfo
	[ "$(jq -r 'select(.job_id=="g1").role' <<<"$output")" = requester ]
	# kill -9 of omerta execute mid-job, then omerta gc: nothing left.
	ip netns exec "$PROV" omerta execute --vpn-config "$T/g1.conf" --script 'sleep 120' --json >"$T/g.out" &
	e=$!
	for _ in $(seq 150); do grep -q '"event":"vpn_up"' "$T/g.out" 2>/dev/null && break; sleep 0.2; done
	kill -9 "$e"  # omerta execute itself (ip netns exec and omerta exec into it)
	wait "$e" || true
	run ip netns exec "$PROV" omerta gc
	show
	[[ "$output" == *provider* ]]
	[ -z "$(ls /run/netns | grep '^omerta-' || true)" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

@test "submit --provider ssh://: a real sshd on the provider; config and script travel on stdin" {
	# On the provider, omerta-provide is wrapped to record its command line.
	mkdir "$T/wrap"
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s/argv.log"\nexec "%s/bin/omerta-provide" "$@"\n' "$T" "$OM_ROOT" >"$T/wrap/omerta-provide"
	chmod 755 "$T/wrap/omerta-provide"
	sshd_up "$T/wrap"
	run --separate-stderr ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_config" \
		omerta submit --create-vpn --provider ssh://root@192.0.2.2:2222 --endpoint-host 198.51.100.1 \
		--uplink wan --script "$who; echo secret-marker; printf '%s|' \"\$EPOCHS\" \"\$ODD\"; echo; cat; exit 8" \
		--description "over ssh" --env EPOCHS=2 --env "ODD=it's \"two\"
lines \$HOME env-marker" --stdin <<<"stdin-marker"
	echo "$stderr"
	[ "$status" -eq 8 ]
	[ "$output" = "$(printf '198.51.100.1\nsecret-marker\n2|it'"'"'s "two"\nlines $HOME env-marker|\nstdin-marker')" ]
	# The remote command line carried options only: never the script, the config or
	# the environment.
	cat "$T/argv.log"
	grep -q -- '^--bundle ' "$T/argv.log"
	run ! grep -q -e secret-marker -e PrivateKey -e 'over ssh' -e env-marker -e EPOCHS -e stdin-marker "$T/argv.log"
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
}
