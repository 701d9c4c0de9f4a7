#!/usr/bin/env bats
# Tools own their state (issue 14): omerta-jail status and stop, and the workflows
# that ask the tools (omerta vpn status, omerta status, omerta gc) instead of reading
# their files. No VM boots here: a jail runs a plain command, and a python "guest" in
# the jail and "server" on the requester trade WireGuard-shaped datagrams through the
# door, so the door's view is real.

load ../lib/common

setup_file() { world_up ss; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
	pids=''
	clients=''
	fake "$T/fakewg.py"
}

teardown() {
	local p j
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	for j in $(ls "$OMERTA_RUN_DIR/jail" 2>/dev/null); do omerta-jail stop --job "$j" || true; done
	for j in $(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null); do
		ip netns exec "$REQ" omerta-vpnserve down --job "$j" >/dev/null 2>&1 || true
	done
	rm -rf "${OMERTA_RUN_DIR:?}/exec/"* # this file's stand-ins for omerta-execute's folders
	for p in $clients; do ip -n "$PROV" link del "$p" 2>/dev/null || true; done
	assert_no_leftovers
}

# The guest and the server: shapes only (no --peer-key), which is all the door checks
# without one. server PORT answers each initiation with a response; guest sends
# initiations from 10.66.0.2 until one is answered, then one non-WireGuard datagram;
# frames N writes N frames that the tap filter blocks, as QEMU would write them.
fake() {
	cat >"$1" <<-'PY'
	import socket, sys, time, struct, fcntl, os
	mode = sys.argv[1]
	if mode == "server":
	    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    s.bind(("198.51.100.1", int(sys.argv[2])))
	    s.settimeout(1)
	    end = time.time() + 60
	    while time.time() < end:
	        try:
	            b, a = s.recvfrom(2048)
	        except socket.timeout:
	            continue
	        if len(b) == 148 and b[0] == 1:
	            s.sendto(bytes([2, 0, 0, 0]) + bytes(88), a)
	elif mode == "guest":
	    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    s.bind(("10.66.0.2", 0))
	    s.settimeout(0.5)
	    for _ in range(20):
	        s.sendto(bytes([1, 0, 0, 0]) + bytes(144), ("10.66.0.1", 51820))
	        try:
	            b = s.recv(2048)
	        except socket.timeout:
	            continue
	        if len(b) == 92 and b[0] == 2:
	            print("handshake", flush=True)
	            break
	    s.sendto(b"not wireguard", ("10.66.0.1", 51820))
	elif mode == "frames":
	    fd = os.open("/dev/net/tun", os.O_RDWR)
	    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tap0", 0x0002 | 0x1000))
	    for _ in range(int(sys.argv[2])):
	        os.write(fd, b"\xff" * 6 + b"\x52\x54\x00\x12\x34\x56" + b"\x88\xb5" + bytes(46))
	    os.close(fd)
	PY
}

# server PORT: the fake server on the requester.
server() {
	ip netns exec "$REQ" python3 "$T/fakewg.py" server "$1" &
	pids="$pids $!"
}

# jailed JOB PORT CMD...: a jail on the provider, in the background, running CMD; its
# stdout lands in $T/JOB.out. Returns once omerta-jail status sees it running, before
# CMD wrote any frame.
jailed() {
	local job=$1 port=$2
	shift 2
	ip netns exec "$PROV" omerta-jail run --job "$job" --endpoint "198.51.100.1:$port" -- "$@" \
		>"$T/$job.out" 2>"$T/$job.err" &
	pids="$pids $!"
	eval "jail_$job=$!"
	# Running, and its filter's counter readable: CMD runs in the finished jail.
	for _ in $(seq 50); do
		if [ "$(omerta-jail status --job "$job" 2>/dev/null | cut -f2,10)" = "$(printf 'running\t0')" ]; then
			# Only now may a guest_cmd start writing (it waits for this file): else a
			# fast CMD's frames can be counted before this look, and it never sees 0.
			touch "$T/$job.go"
			return 0
		fi
		sleep 0.1
	done
	cat "$T/$job.err" >&2
	return 1
}

# guest_cmd N JOB: the jail's CMD for a guest that waits for jailed's look, shakes
# hands, sends junk, writes N blocked frames, says "ready" and stays.
guest_cmd() {
	echo "until [ -e $T/$2.go ]; do sleep 0.05; done; ip addr add 10.66.0.2/32 dev lo && python3 $T/fakewg.py guest && python3 $T/fakewg.py frames $1 && echo ready && exec sleep 30"
}

until_line() { # until_line FILE TEXT
	for _ in $(seq 100); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	cat "$1" >&2
	return 1
}

# exec_dir JOB STATE [EVENTS]: what omerta execute keeps for a job, as it writes it.
exec_dir() {
	mkdir -p "$OMERTA_RUN_DIR/exec/$1"
	printf '%s\n' "$2" >"$OMERTA_RUN_DIR/exec/$1/state"
	[ -z "${3:-}" ] || printf '%s\n' "$3" >"$OMERTA_RUN_DIR/exec/$1/events"
}

# starttime PID: field 22 of /proc/PID/stat; procstate PID: field 3 (S for a sleep
# that runs, Z once it was killed and not yet reaped, nothing once gone).
starttime() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
procstate() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

@test "jail status: the door's view; connected once the server's handshake came back" {
	run --separate-stderr omerta-jail status --job nosuch
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-jail: no such job: nosuch" ]
	[ -z "$output" ]
	server 51901
	jailed s1 51901 sh -c "$(guest_cmd 3 s1)"
	until_line "$T/s1.out" ready
	grep -qx handshake "$T/s1.out"
	# The door takes the junk datagram in its own time (a loaded machine): wait
	# until it has, up to 5 s, then read once.
	for _ in $(seq 50); do
		[ "$(omerta-jail status --job s1 --json | jq -r .rogue_datagrams)" = 1 ] && break
		sleep 0.1
	done
	run omerta-jail status --job s1 --json
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(jq -r .job_id <<<"$output")" = s1 ]
	[ "$(jq -r .state <<<"$output")" = running ]
	[ "$(jq -r .connected <<<"$output")" = true ]
	hs=$(jq -r .latest_handshake <<<"$output")
	[ $((hs - $(date +%s))) -le 1 ]
	[ $(($(date +%s) - hs)) -le 10 ]
	[ "$(jq -r .rx_bytes <<<"$output")" -eq 92 ]
	[ "$(jq -r .tx_bytes <<<"$output")" -ge 148 ]
	[ "$(jq -r .rogue_datagrams <<<"$output")" -eq 1 ]
	[ "$(jq -r .queue_drops <<<"$output")" -eq 0 ]
	[ "$(jq -r .blocked_frames <<<"$output")" -eq 3 ]
	# The text form: one tab-separated record; -1 nowhere, "-" only for what is absent.
	run omerta-jail status --job s1
	[ "$(cut -f1-3 <<<"$output")" = "$(printf 's1\trunning\tyes')" ]
	[ "$(cut -f4 <<<"$output")" = "$hs" ]
	[ "$(cut -f7,8,10 <<<"$output")" = "$(printf '92\t1\t3')" ]
	# Without --job: every jail, one record each.
	run omerta-jail status --json
	[ "$(jq -r .job_id <<<"$output")" = s1 ]
	# No handshake seen: not connected, however long the jail has run.
	jailed s2 51999 sleep 30
	run omerta-jail status --job s2
	[ "$(cut -f2-4 <<<"$output")" = "$(printf 'running\tno\t-')" ]
	[ "$(cut -f10 <<<"$output")" = 0 ]
}

@test "jail stop: the recorded jail and its command go, the jail is torn down, again is a no-op; a reused PID is never signalled" {
	jailed s3 51999 sh -c 'echo $$ >"$0"; exec sleep 30' "$T/s3.cmd"
	for _ in $(seq 50); do [ -s "$T/s3.cmd" ] && break; sleep 0.1; done
	cmd=$(cat "$T/s3.cmd")
	run omerta-jail stop --job s3
	[ "$status" -eq 0 ]
	st=0
	wait "$jail_s3" || st=$?
	[ "$st" -eq 143 ]
	[ ! -d "/proc/$cmd" ]
	[ ! -e /run/netns/omerta-s3 ]
	[ ! -e "$OMERTA_RUN_DIR/jail/s3" ]
	run omerta-jail stop --job s3
	[ "$status" -eq 0 ]
	run omerta-jail status --job s3
	[ "$status" -eq 1 ]
	# A state whose PID now names another process (the same name, another start
	# time): status calls the jail dead, stop tears down without a signal.
	cp "$(command -v sleep)" "$T/omerta-jail"
	"$T/omerta-jail" 60 &
	other=$!
	pids="$pids $other"
	until [ "$(cat "/proc/$other/comm" 2>/dev/null)" = omerta-jail ]; do sleep 0.05; done
	mkdir -p "$OMERTA_RUN_DIR/jail/s4"
	printf 'job_id=s4\npid=%s\npid_start=%s\n' "$other" "$(($(starttime "$other") + 1))" >"$OMERTA_RUN_DIR/jail/s4/state"
	run omerta-jail status --job s4
	[ "$(cut -f2,3 <<<"$output")" = "$(printf 'dead\tno')" ]
	# What its door last counted still reads back, each drop counter by its own key.
	printf 'rate_drops=5\nhandshake_drops=4\nqueue_drops=7\n' >"$OMERTA_RUN_DIR/jail/s4/door"
	run omerta-jail status --job s4 --json
	[ "$(jq -c '[.state, .rate_drops, .handshake_drops, .queue_drops]' <<<"$output")" = '["dead",5,4,7]' ]
	run omerta-jail stop --job s4
	[ "$status" -eq 0 ]
	sleep 0.2
	[ "$(procstate "$other")" = S ]
	[ ! -e "$OMERTA_RUN_DIR/jail/s4" ]
}

@test "omerta vpn status and omerta status, provider: connected only when the door saw the handshake, never on the guest's word" {
	server 51902
	jailed p1 51902 sh -c "$(guest_cmd 0 p1)"
	until_line "$T/p1.out" ready
	jailed p2 51999 sleep 30
	# omerta execute's folders for both; p2's guest "said" vpn_up, p1's said nothing.
	exec_dir p1 "pid=$$"
	exec_dir p2 "pid=$$" '{"event":"vpn_up","job_id":"p2"}'
	run omerta status --json
	echo "$output"
	[ "$(jq -r 'select(.job_id=="p1").vpn' <<<"$output")" = connected ]
	[ "$(jq -r 'select(.job_id=="p2").vpn' <<<"$output")" = waiting ]
	run omerta vpn status --job-id p1 --json
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(jq -r .role <<<"$output")" = provider ]
	[ "$(jq -r .connected <<<"$output")" = true ]
	[ "$(jq -r .vm <<<"$output")" = running ]
	[ "$(jq -r .rx_bytes <<<"$output")" -eq 92 ]
	[ "$(jq -r .rogue_datagrams <<<"$output")" -eq 1 ]
	[ "$(jq -r .blocked_frames <<<"$output")" -eq 0 ]
	run omerta vpn status --job-id p2
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'provider\tp2\t0\t0\t0\t0\tbooting')" ]
	# A job of omerta execute whose jail is not made yet (the image is being built).
	exec_dir p3 "pid=$$"
	run omerta vpn status --job-id p3
	[ "$output" = "$(printf 'provider\tp3\t0\t0\t0\t0\tbooting')" ]
	run --separate-stderr omerta vpn status --job-id p9
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta vpn: no such job: p9" ]
}

@test "omerta vpn status and omerta status, requester, from another network namespace: never zeros with exit 0, never 'waiting' for a connected job" {
	ip netns exec "$REQ" omerta-vpnserve up --job r1 --endpoint-host 198.51.100.1 --owner $$ >"$T/r1.conf"
	# A real client on the provider: wireguard-go, the config's address, one ping.
	clients=omtss0
	wg_userspace "$PROV" omtss0 || { pids="$pids $wg_pid"; false; }
	pids="$pids $wg_pid"
	ip netns exec "$PROV" omerta-wgconf setconf "$T/r1.conf" >"$T/r1.set"
	ip netns exec "$PROV" wg setconf omtss0 "$T/r1.set"
	ip -n "$PROV" addr add "$(ip netns exec "$PROV" omerta-wgconf show --json "$T/r1.conf" | jq -r '.address[0]')" dev omtss0
	ip -n "$PROV" link set omtss0 up
	sip=$(ip netns exec "$REQ" omerta-vpnserve status --job r1 --json | jq -r .server_ip)
	ip netns exec "$PROV" ping -c 1 -W 5 "$sip" >/dev/null || true
	ip netns exec "$REQ" omerta-vpnserve wait --job r1 --timeout 10
	# Where the server runs: connected, with its numbers.
	run ip netns exec "$REQ" omerta vpn status --job-id r1 --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .connected <<<"$output")" = true ]
	[ "$(jq -r .latest_handshake <<<"$output")" -gt 0 ]
	run ip netns exec "$REQ" omerta status --json
	[ "$(jq -r 'select(.job_id=="r1").vpn' <<<"$output")" = connected ]
	# From another namespace (the provider's, and the host's own) omerta-vpnserve
	# asks the job's namespace: the truth, never zeros with exit 0.
	run --separate-stderr ip netns exec "$PROV" omerta vpn status --job-id r1
	echo "status=$status output=$output stderr=$stderr"
	[ "$status" -eq 0 ]
	[ "$(cut -f6 <<<"$output")" = yes ]
	[ "$(cut -f3 <<<"$output")" -gt 0 ]
	# The server's filter counter: a datagram to the requester's host beyond the
	# tunnel address is refused and counted, in both forms.
	r0=$(cut -f7 <<<"$output")
	printf x | ip netns exec "$PROV" nc -u -w 1 "$sip" 9 || true
	run ip netns exec "$PROV" omerta vpn status --job-id r1
	[ "$(cut -f7 <<<"$output")" -gt "$r0" ]
	run ip netns exec "$REQ" omerta vpn status --job-id r1 --json
	[ "$(jq -r .refused_packets <<<"$output")" -gt "$r0" ]
	run omerta-vpnserve status --job r1 --json
	[ "$(jq -r .connected <<<"$output")" = true ]
	[ "$(jq -r .state <<<"$output")" = up ]
	[ "$(jq -r .rx_bytes <<<"$output")" -gt 0 ]
	run ip netns exec "$PROV" omerta status --json
	[ "$(jq -r 'select(.job_id=="r1").vpn' <<<"$output")" = connected ]
}

@test "omerta gc: a PID is believed and signalled only when its start time proves it the recorded process" {
	true &
	dead=$!
	wait "$dead"
	# A process that has the recorded jail's PID now, and its name, but not its start.
	cp "$(command -v sleep)" "$T/omerta-jail"
	"$T/omerta-jail" 60 &
	other=$!
	pids="$pids $other"
	until [ "$(cat "/proc/$other/comm" 2>/dev/null)" = omerta-jail ]; do sleep 0.05; done
	exec_dir g1 "pid=$dead"
	mkdir -p "$OMERTA_RUN_DIR/jail/g1"
	printf 'pid=%s\npid_start=%s\n' "$other" "$(($(starttime "$other") + 1))" >"$OMERTA_RUN_DIR/jail/g1/state"
	# omerta execute's PID: with start= it must match; without (an older execute),
	# its command line must.
	cp "$(command -v sleep)" "$T/omerta-execute"
	"$T/omerta-execute" 60 &
	ex=$!
	pids="$pids $ex"
	until [ "$(cat "/proc/$ex/comm" 2>/dev/null)" = omerta-execute ]; do sleep 0.05; done
	exec_dir g2 "$(printf 'pid=%s\nstart=%s' "$ex" "$(($(starttime "$ex") + 1))")"
	exec_dir g3 "$(printf 'pid=%s\nstart=%s' "$ex" "$(starttime "$ex")")"
	exec_dir g4 "pid=$ex"
	# A real jail whose omerta-execute is gone.
	jailed g5 51999 sleep 30
	exec_dir g5 "$(printf 'pid=%s\nstart=1' "$dead")"
	run omerta gc
	echo "$output"
	[ "$status" -eq 0 ]
	sleep 0.2
	[ "$(procstate "$other")" = S ]
	[ "$(grep '^provider' <<<"$output" | sort | tr '\n' ' ')" = "$(printf 'provider\tg1 provider\tg2 provider\tg5 ')" ]
	[ ! -e "$OMERTA_RUN_DIR/jail/g1" ]
	[ ! -e "$OMERTA_RUN_DIR/exec/g1" ]
	[ ! -e "$OMERTA_RUN_DIR/exec/g2" ]
	[ -d "$OMERTA_RUN_DIR/exec/g3" ]
	[ -d "$OMERTA_RUN_DIR/exec/g4" ]
	st=0
	wait "$jail_g5" || st=$?
	[ "$st" -eq 143 ]
	[ ! -e /run/netns/omerta-g5 ]
	[ ! -e "$OMERTA_RUN_DIR/jail/g5" ]
}

@test "jail gc: a jail's name that another mount namespace holds is left alone; once nothing holds it, it goes" {
	# ip netns exec gives its command a mount namespace of its own: a name made
	# there is a mount only there, and a plain file here, with no process inside.
	ip netns exec "$PROV" sh -c 'ip netns add omerta-ssorph && echo ready && exec sleep 30' >"$T/orph.out" &
	holder=$!
	pids="$pids $holder"
	until_line "$T/orph.out" ready
	touch -d '2 minutes ago' /run/netns/omerta-ssorph
	run omerta-jail gc
	[ "$status" -eq 0 ]
	[ -z "$(grep ssorph <<<"$output" || true)" ]
	[ -e /run/netns/omerta-ssorph ]
	kill "$holder"
	wait "$holder" || true
	run omerta-jail gc
	grep -qx "$(printf 'removed\tssorph')" <<<"$output"
	[ ! -e /run/netns/omerta-ssorph ]
}

@test "jail: a poll() that fails ends the run with exit 3, its command killed and reaped" {
	cat >"$T/pollfail.c" <<-'C'
	#include <errno.h>
	#include <poll.h>
	/* The jail's relay polls 4 descriptors; nothing else in it does. */
	int poll(struct pollfd *p, nfds_t n, int t);
	int poll(struct pollfd *p, nfds_t n, int t) { (void)p; (void)n; (void)t; errno = ENOMEM; return -1; }
	int __poll_chk(struct pollfd *p, nfds_t n, int t, unsigned long l);
	int __poll_chk(struct pollfd *p, nfds_t n, int t, unsigned long l) { (void)l; return poll(p, n, t); }
	C
	cc -shared -fPIC -o "$T/pollfail.so" "$T/pollfail.c"
	t0=$(date +%s)
	# (Under SAN=address the sanitizer's runtime must let a preload come first.)
	run --separate-stderr ip netns exec "$PROV" env LD_PRELOAD="$T/pollfail.so" \
		ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
		omerta-jail run --job pf --endpoint 198.51.100.1:51999 --events-fd 3 -- \
		sh -c 'echo $$ >"$0"; exec sleep 30' "$T/pf.cmd" 3>"$T/pf.jail"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 3 ]
	[ "$stderr" = "omerta-jail: poll: Cannot allocate memory" ]
	[ $(($(date +%s) - t0)) -lt 10 ]
	[ "$(jq -r 'select(.event=="jail_down").status' "$T/pf.jail")" = 3 ]
	# CMD, if it got as far as starting, is gone with the run.
	[ ! -s "$T/pf.cmd" ] || [ ! -d "/proc/$(cat "$T/pf.cmd")" ]
	[ ! -e /run/netns/omerta-pf ]
}

@test "bad usage exits 2, as the pages say: omerta vpn, status, gc and jail's new verbs" {
	while IFS='|' read -r code args; do
		# shellcheck disable=SC2086
		run --separate-stderr $args
		[ "$status" -eq "$code" ] || { echo "$args -> $status: $stderr"; false; }
		[ -z "$output" ]
	done <<-EOF
	2|omerta vpn status --bogus
	2|omerta vpn status --job-id
	2|omerta vpn status
	2|omerta vpn status --job-id x --vpn-config f
	2|omerta vpn test
	2|omerta vpn test --job-id x
	2|omerta vpn nonsense
	2|omerta vpn
	125|omerta vpn status --job-id a/b
	125|omerta vpn test --vpn-config /nonexistent
	1|omerta vpn status --job-id nosuch
	2|omerta status --bogus
	2|omerta status --json extra
	2|omerta gc --bogus
	2|omerta gc extra words
	2|omerta-jail status extra
	2|omerta-jail stop
	2|omerta-jail down --job x --json
	2|omerta-jail gc --job x
	1|omerta-jail stop --job a/b
	1|omerta-jail status --job nosuch
	EOF
	run omerta vpn --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 bad usage"* ]]
}
