#!/usr/bin/env bats
# The seams of the output path (issue 14): the workload's bytes come back exact in
# text and in --json, a reader that stops reading never holds back a kill or a
# timeout, the provider keeps no output, a signal to submit or execute stops the
# job at once, and a terminal sees control bytes escaped.

load ../lib/common

setup_file() { world_up out; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -z "${bgpid:-}" ] || { kill "$bgpid" 2>/dev/null; wait "$bgpid" 2>/dev/null || true; }
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

# A workload that writes N bytes of tests/lib/bytes.sh's pattern to stdout and to stderr.
bytes_job() {
	{
		echo "set -- $1"
		echo '('; cat "$OM_ROOT/tests/lib/bytes.sh"; echo ')'
		echo '('; cat "$OM_ROOT/tests/lib/bytes.sh"; echo ') >&2'
	} >"$T/job.sh"
	sh "$OM_ROOT/tests/lib/bytes.sh" "$1" >"$T/want"
}

# Rebuilds the streams from --json records: "data" is UTF-8 text, "data_base64" the
# exact bytes; a record with neither, or with both, fails.
rebuild() {
	python3 - "$1" "$2" "$3" <<-'PY'
	import base64, json, sys
	out = {"stdout": bytearray(), "stderr": bytearray()}
	kinds = set()
	for line in open(sys.argv[1], "rb"):
	    r = json.loads(line)
	    if r.get("event") != "output":
	        continue
	    assert ("data" in r) != ("data_base64" in r), r
	    if "data" in r:
	        out[r["stream"]] += r["data"].encode("utf-8")
	        kinds.add("data")
	    else:
	        out[r["stream"]] += base64.b64decode(r["data_base64"], validate=True)
	        kinds.add("data_base64")
	open(sys.argv[2], "wb").write(out["stdout"])
	open(sys.argv[3], "wb").write(out["stderr"])
	print(" ".join(sorted(kinds)))
	PY
}

@test "output: 20,000,000 bytes of binary stdout and of stderr come back exact in text mode" {
	vpn b1
	bytes_job 20000000
	ip netns exec "$PROV" omerta execute --vpn-config "$T/b1.conf" --script-file "$T/job.sh" \
		>"$T/out" 2>"$T/err" || { echo "exit $?"; false; }
	[ "$(wc -c <"$T/out")" -eq 20000000 ]
	cmp "$T/want" "$T/out"
	# stderr: the workload's bytes and nothing else (no progress: not a terminal).
	cmp "$T/want" "$T/err"
}

@test "output: the same 2 x 20,000,000 bytes in --json as data or data_base64 records, nothing dropped" {
	vpn b2
	bytes_job 20000000
	ip netns exec "$PROV" omerta execute --json --vpn-config "$T/b2.conf" --script-file "$T/job.sh" >"$T/json"
	kinds=$(rebuild "$T/json" "$T/out" "$T/err")
	[[ $kinds == *data_base64* ]]
	cmp "$T/want" "$T/out"
	cmp "$T/want" "$T/err"
	[ "$(jq -r 'select(.event=="result") | .status' "$T/json")" = completed ]
	[ "$(jq -r 'select(.event=="watch_result") | .output_discarded' "$T/json")" -eq 0 ]
	# Every record is one line of valid JSON (jq read them all) and no line is huge.
	[ "$(awk 'length > 200000' "$T/json" | wc -l)" -eq 0 ]
}

@test "output: a UTF-8 character cut across reads stays text; lone bytes are base64" {
	vpn b3
	ip netns exec "$PROV" omerta execute --json --vpn-config "$T/b3.conf" \
		--script 'i=0; while [ $i -lt 4095 ]; do printf a; i=$((i+1)); done; printf "\360\237\230\200 ok\n"; printf "\377\376" >&2' >"$T/json"
	run jq -j 'select(.event=="output" and .stream=="stdout") | .data' "$T/json"
	[[ $output == *"aaa😀 ok" ]]
	[ "$(jq -r 'select(.event=="output" and .stream=="stderr") | .data_base64' "$T/json")" = "//4=" ]
	[ -z "$(jq -r 'select(.event=="output" and .stream=="stdout") | .data_base64 // empty' "$T/json")" ]
}

# Runs execute --json into a reader that sleeps $1 s before it reads; records when
# it resumed in $T/resumed (ms).
stalled() {
	local s=$1
	shift
	ip netns exec "$PROV" omerta execute --json "$@" >"$T/fifo" &
	bgpid=$!
	local fd
	exec {fd}<"$T/fifo" # opened, then not read (bats owns fd 3)
	sleep "$s"
	om_now_ms >"$T/resumed"
	cat <&"$fd" >"$T/json"
	exec {fd}<&-
	echo 0 >"$T/rc"
	wait "$bgpid" || echo "$?" >"$T/rc"
	bgpid=
}

om_now_ms() { echo $(($(date +%s%N) / 1000000)); }

@test "output: a reader stalled for 60 s: a rogue frame still kills QEMU within milliseconds" {
	need_root
	vpn s1
	mkfifo "$T/fifo"
	stalled 60 --vpn-config "$T/s1.conf" --root --timeout 120 \
		--script "(yes | head -c 50000000) & sleep 3; $FLUSH; "'ip route replace default via 10.66.0.1 dev eth0; nc -w 2 203.0.113.10 80 </dev/null; yes'
	[ "$(cat "$T/rc")" -eq 121 ]
	[ "$(jq -r 'select(.event=="result") | .status' "$T/json")" = rogue_connection_detected ]
	d=$(jq -r 'select(.event=="rogue_connection") | .detection_ms' "$T/json")
	[ "$d" -ge 0 ]
	[ "$d" -lt 1000 ]
	# QEMU was gone long before the reader read anything.
	died=$(jq -r 'select(.event=="exited") | .time_ms' "$T/json")
	[ "$died" -lt "$(cat "$T/resumed")" ]
}

@test "output: a reader stalled for 30 s: --timeout 5 still ends the job at 5 s, reported as timeout" {
	vpn s2
	mkfifo "$T/fifo"
	stalled 30 --vpn-config "$T/s2.conf" --timeout 5 --script 'yes'
	[ "$(cat "$T/rc")" -eq 124 ]
	[ "$(jq -r 'select(.event=="result") | .status' "$T/json")" = timeout ]
	started=$(jq -r 'select(.event=="started") | .time_ms' "$T/json")
	died=$(jq -r 'select(.event=="exited") | .time_ms' "$T/json")
	[ "$died" -lt "$(cat "$T/resumed")" ]
	[ $((died - started)) -lt 15000 ]
	# Nothing was lost on the way: the records before the result are whole lines.
	jq -e . "$T/json" >/dev/null
}

@test "output: while a job prints 1 GiB the provider stores its image and a few KiB, no output" {
	vpn g1
	( while :; do du -sb "$OMERTA_RUN_DIR/exec"/*/ 2>/dev/null | awk '{print $1}'; sleep 0.2; done ) >"$T/du" &
	bgpid=$!
	ip netns exec "$PROV" omerta execute --vpn-config "$T/g1.conf" --job-id g1 \
		--script 'dd if=/dev/zero bs=1M count=1024 2>/dev/null' >"$T/n" 2>"$T/e" &
	e=$!
	wait "$e" || { echo "exit $?"; cat "$T/e"; false; }
	kill "$bgpid"; wait "$bgpid" 2>/dev/null || true; bgpid=
	echo "got $(wc -c <"$T/n")"; cat "$T/e"
	[ "$(wc -c <"$T/n")" -eq 1073741824 ]
	max=$(sort -n "$T/du" | tail -n 1)
	# The image lives a moment only (vmboot --remove-initrd unlinks it as QEMU
	# starts): its size is the cached base's and a job part of a few KiB.
	image=$(( $(stat -c %s "$(omerta-mkinitrd --base)") + 16384 ))
	[ -n "$max" ]
	# The documented bound (omerta-execute(8)): the image plus 64 KiB of events.
	[ "$max" -lt $((image + 65536 + 4096 * 8)) ]
}

# no_state DIR...: no job's state in these folders of the run directory (a tool's
# folder may keep its lock).
no_state() {
	local d left=''
	for d; do
		left+=$(find "$OMERTA_RUN_DIR/$d" -mindepth 1 ! -name .lock 2>/dev/null)
	done
	[ -z "$left" ] || { echo "state left: $left"; return 1; }
}

# sig_job SIG CMD...: starts CMD (a job that prints "started" and would print
# "finished-anyway" 8 s later), sends SIG to its PID once it started, and checks it
# ended at once, with the signal's status, the workload unfinished, nothing left.
sig_job() {
	local sig=$1 want=$2 t0 t1 rc=0
	shift 2
	# The signal's default action is restored for the job: one ignored where the suite
	# was started (nohup ignores SIGHUP; a shell without job control, SIGINT for its
	# background jobs) stays ignored through exec, and a shell cannot trap it.
	env --default-signal="$sig" "$@" --script 'echo started; sleep 8; echo finished-anyway' >"$T/s.out" 2>"$T/s.err" &
	bgpid=$!
	for _ in $(seq 300); do grep -q started "$T/s.out" && break; sleep 0.05; done
	grep -q started "$T/s.out"
	t0=$(om_now_ms)
	kill "-$sig" "$bgpid"
	wait "$bgpid" || rc=$?
	t1=$(om_now_ms)
	bgpid=
	echo "$sig: exit $rc after $((t1 - t0)) ms"
	[ "$rc" -eq "$want" ]
	run ! grep -q finished-anyway "$T/s.out"
	# Before the workload could have ended by itself (8 s): it was stopped.
	[ $((t1 - t0)) -lt 4000 ]
	[ -z "$(pgrep -x qemu-system-x86)" ]
	no_state exec jail
}

@test "output: SIGTERM, SIGINT and SIGHUP to the PID of omerta execute stop the job at once" {
	vpn k1
	sig_job TERM 143 ip netns exec "$PROV" omerta execute --vpn-config "$T/k1.conf"
	sig_job INT 130 ip netns exec "$PROV" omerta execute --vpn-config "$T/k1.conf"
	sig_job HUP 129 ip netns exec "$PROV" omerta execute --vpn-config "$T/k1.conf"
}

@test "output: SIGTERM, SIGINT and SIGHUP to the PID of omerta submit stop the job and its VPN at once" {
	sig_job TERM 143 ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1
	no_state vpn
	assert_no_leftovers
	sig_job INT 130 ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1
	no_state vpn
	sig_job HUP 129 ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1
	no_state vpn
}

ctl_bytes='printf "title\033]0;owned\007 clip\033]52;c;aGk=\007 csi\302\233 bad\377 Z\303\274rich\n"; printf "err\033[2J\n" >&2'

@test "output: on a terminal the job's control bytes arrive escaped; --json and a pipe stay exact" {
	vpn t1
	# script(1) gives the job a terminal for stdout and stderr.
	script -qec "ip netns exec $PROV omerta execute --vpn-config $T/t1.conf --script '$ctl_bytes'" /dev/null >"$T/tty"
	grep -qF 'title\x1b]0;owned\x07 clip\x1b]52;c;aGk=\x07 csi\xc2\x9b bad\xff Zürich' "$T/tty"
	grep -qF 'err\x1b[2J' "$T/tty"
	run ! grep -q "$(printf '\033')" "$T/tty"
	# Through a pipe the bytes are the workload's own.
	ip netns exec "$PROV" omerta execute --vpn-config "$T/t1.conf" --script "$ctl_bytes" >"$T/pipe" 2>/dev/null
	printf 'title\033]0;owned\007 clip\033]52;c;aGk=\007 csi\302\233 bad\377 Z\303\274rich\n' | cmp - "$T/pipe"
}

@test "output: omerta submit escapes what reaches its terminal too (the provider may be a stranger)" {
	script -qec "ip netns exec $REQ omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 --script '$ctl_bytes'" /dev/null >"$T/tty"
	grep -qF 'clip\x1b]52;c;aGk=\x07' "$T/tty"
	run ! grep -q "$(printf '\033')" "$T/tty"
}

@test "output: an empty --script is refused before anything is built" {
	run ip netns exec "$PROV" omerta execute --vpn-config /dev/null --script ''
	[ "$status" -eq 125 ]
	[[ $output == *"--script is empty"* ]]
	run ip netns exec "$REQ" omerta submit --create-vpn --script ''
	[ "$status" -eq 125 ]
	[[ $output == *"--script is empty"* ]]
	no_state vpn exec
}

@test "output: a refused config names the user's file and every problem, never the run directory" {
	printf '[Interface]\nFoo = bar\nAddress = x\n' >"$T/bad.conf"
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/bad.conf" --script true
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ $stderr == *"$T/bad.conf:2: unknown key Foo"* ]]
	[[ $stderr == *"$T/bad.conf:3: Address 'x'"* ]]
	[[ $stderr == *"missing [Peer] section"* ]]
	[ "$(grep -c '^omerta execute: vpn config refused: ' <<<"$stderr")" -ge 4 ]
	[[ $stderr != *"$OMERTA_RUN_DIR"* ]]
	[[ $stderr != *"and 1 more"* ]]
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config - --script true <"$T/bad.conf"
	[[ $stderr == *"stdin (--vpn-config -):2: unknown key Foo"* ]]
	[[ $stderr != *"$OMERTA_RUN_DIR"* ]]
}

@test "output: kill -9 of omerta execute stops the VM within 2 s (the jail watches its owner); gc leaves nothing" {
	vpn k9
	ip netns exec "$PROV" omerta execute --vpn-config "$T/k9.conf" --script 'echo started; sleep 30; echo finished-anyway' \
		>"$T/s.out" 2>"$T/s.err" &
	bgpid=$!
	for _ in $(seq 300); do grep -q started "$T/s.out" && break; sleep 0.05; done
	grep -q started "$T/s.out"
	q=$(pgrep -x qemu-system-x86)
	[ -n "$q" ]
	kill -9 "$bgpid"
	wait "$bgpid" 2>/dev/null || true
	bgpid=
	for _ in $(seq 20); do [ -d "/proc/$q" ] || break; sleep 0.1; done
	[ ! -d "/proc/$q" ]
	# The jail tore itself down; the job's folder is left for omerta gc, which removes it.
	ip netns exec "$PROV" omerta gc
	no_state exec jail
	run ! grep -q finished-anyway "$T/s.out"
}
