#!/usr/bin/env bats
# Faults injected into whole jobs (issue 8): signals at each phase, kill -9 of QEMU,
# the same job ID twice, a full disk, a missing kernel or modules, a provider reboot.
# Each must end in its documented status with nothing left behind.

load ../lib/common

setup_file() {
	world_up ft
	mkdir -p "$OMERTA_RUN_DIR"
	ip netns exec "$REQ" omerta-vpnserve up --job faults --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ \
		>"$BATS_FILE_TMPDIR/f.conf"
}

teardown_file() {
	ip netns exec "$REQ" omerta-vpnserve down --job faults
	world_down
}

setup() {
	T=$BATS_TEST_TMPDIR
	C=$BATS_FILE_TMPDIR/f.conf
}

teardown() {
	[ -z "${small:-}" ] || umount "$small" 2>/dev/null || true
	# A job a failed test left running is ended (by its PID, still our child), so that
	# its QEMU does not reach the next test.
	if [ -n "${e:-}" ] && jobs -p | grep -qx "$e"; then kill -TERM "$e" 2>/dev/null || true; wait "$e" 2>/dev/null || true; fi
	for _ in $(seq 50); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	[ -z "$(pgrep -x qemu-system-x86)" ]
	[ -z "$(pgrep -x omerta-watch)" ]
	[ -z "$(pgrep -x omerta-vmboot)" ]
	[ -z "$(pgrep -x omerta-jail)" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" "$OMERTA_RUN_DIR/jail" 2>/dev/null | grep -v ':$' | grep . || true)" ]
	[ -z "$(ls /run/netns | grep '^omerta-' || true)" ]
	[ -z "$(find "$OMERTA_CACHE_DIR" -name '*.tmp*' 2>/dev/null)" ]
}

# bg OUT [execute options...]: a job in the background, its JSON in OUT, its pid in $e.
# SIGINT is restored: a shell without job control starts background jobs with it ignored.
bg() {
	local out=$1
	shift
	ip netns exec "$PROV" env --default-signal=INT omerta execute --vpn-config "$C" --json "$@" >"$out" 2>"$out.err" &
	e=$!
}

# until_event OUT EVENT: waits up to 60 s for EVENT in OUT.
until_event() {
	for _ in $(seq 600); do grep -q "\"event\":\"$2\"" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "no $2 in $1" >&2
	return 1
}

@test "faults: SIGINT and SIGTERM while the image builds, while the VM boots, and while the workload runs" {
	for sig in INT TERM; do
		want=$([ $sig = INT ] && echo 130 || echo 143)
		# Image: with a cold cache python's base (27 MB, the standard library) takes
		# about 100 ms to build, sh's much less; watched without a pause to catch it.
		rm -rf "$OMERTA_CACHE_DIR"
		bg "$T/i$sig" --script true --language python --memory 256
		# The build is the mkinitrd given --script-file: execute runs a quick one
		# first (--which-kernel, to name the kernel), which must not count. It is
		# signalled the moment it is seen, with no second look that could find it done.
		seen=
		for _ in $(seq 3000); do
			for p in $(pgrep -x omerta-mkinitrd); do
				grep -qa -- --script-file "/proc/$p/cmdline" 2>/dev/null && seen=$p && break
			done
			[ -z "$seen" ] || break
		done
		[ -n "$seen" ]
		kill -$sig "$e"
		wait "$e" && rc=0 || rc=$?
		echo "image $sig: $rc"
		[ "$rc" -eq "$want" ]
		[ -z "$(find "$OMERTA_CACHE_DIR" -name '*.tmp*' 2>/dev/null)" ]
		# Boot: QEMU started, the tunnel not up yet.
		bg "$T/b$sig" --script true
		until_event "$T/b$sig" started
		run ! grep -q '"event":"vpn_up"' "$T/b$sig"
		kill -$sig "$e"
		wait "$e" && rc=0 || rc=$?
		echo "boot $sig: $rc"
		[ "$rc" -eq "$want" ]
		# Workload.
		bg "$T/w$sig" --script 'sleep 60'
		until_event "$T/w$sig" vpn_up
		kill -$sig "$e"
		wait "$e" && rc=0 || rc=$?
		echo "workload $sig: $rc"
		[ "$rc" -eq "$want" ]
		[ -z "$(ls "$OMERTA_RUN_DIR/exec")" ]
		[ -z "$(ls /run/netns | grep '^omerta-' || true)" ]
	done
}

@test "faults: kill -9 of QEMU mid-job: status error, the signal named, exit 125, nothing left" {
	bg "$T/q" --script 'sleep 60'
	until_event "$T/q" vpn_up
	kill -9 "$(pgrep -x qemu-system-x86)"
	wait "$e" && rc=0 || rc=$?
	cat "$T/q"
	[ "$rc" -eq 125 ]
	[ "$(jq -r 'select(.event=="result").status' "$T/q")" = error ]
	[ "$(jq -r 'select(.event=="exited").qemu' "$T/q")" = Killed ]
}

@test "faults: the same job ID twice: the second is refused at once with 125, the first completes" {
	bg "$T/a" --job-id dup --script 'sleep 2; echo first'
	until_event "$T/a" started
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$C" --job-id dup --script 'echo second'
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta execute: job dup exists already" ]
	# From another run directory the jail still refuses: the namespace is taken.
	run --separate-stderr env OMERTA_RUN_DIR="$T/run2" ip netns exec "$PROV" omerta execute --vpn-config "$C" --job-id dup --script 'echo third'
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -ge 1 ]
	wait "$e"
	[ "$(jq -r 'select(.event=="output").data' "$T/a")" = first ]
	rm -rf "$T/run2"
}

@test "faults: a full run directory or cache (a small tmpfs): one line, 125, nothing half-written left" {
	small=$T/small
	mkdir -p "$small"
	mount -t tmpfs -o size=2m omt-small "$small"
	# The cache: the base image (about 9 MB) does not fit.
	run --separate-stderr ip netns exec "$PROV" env OMERTA_CACHE_DIR="$small/cache" \
		omerta execute --vpn-config "$C" --script true
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	[ -z "$(ls -A "$small/cache" 2>/dev/null)" ]
	# The run directory: the per-job image does not fit.
	run --separate-stderr ip netns exec "$PROV" env OMERTA_RUN_DIR="$small/run" \
		omerta execute --vpn-config "$C" --script true
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	[ -z "$(ls -A "$small/run/exec" 2>/dev/null)" ]
	[ -z "$(find "$small" -type f)" ]
	umount "$small"
	small=
}

@test "faults: a missing kernel, and a kernel without its modules: one line, 125, nothing left" {
	run --separate-stderr ip netns exec "$PROV" env OMERTA_KERNEL=/nonexistent/vmlinuz \
		omerta execute --vpn-config "$C" --script true
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"no guest kernel"* ]]
	cp "$KERNEL" "$T/vmlinuz-9.9.9-omt"
	run --separate-stderr ip netns exec "$PROV" env OMERTA_KERNEL="$T/vmlinuz-9.9.9-omt" \
		omerta execute --vpn-config "$C" --script true
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"9.9.9-omt"* ]]
}

@test "faults: a provider reboot (every process killed, namespaces gone, files kept): gc removes the rest; the job ID works again" {
	bg "$T/r" --job-id reboot --script 'sleep 60'
	until_event "$T/r" vpn_up
	# Power lost: every process of the job dies at once, then the namespaces go.
	for p in "$e" $(pgrep -x omerta-jail) $(pgrep -x omerta-watch) $(pgrep -x omerta-vmboot) $(pgrep -x qemu-system-x86); do
		kill -9 "$p" 2>/dev/null || true
	done
	wait "$e" || true
	ip netns del omerta-reboot
	[ -d "$OMERTA_RUN_DIR/exec/reboot" ]
	[ -d "$OMERTA_RUN_DIR/jail/reboot" ]
	run ip netns exec "$PROV" omerta gc
	show
	[ "$status" -eq 0 ]
	[ ! -e "$OMERTA_RUN_DIR/exec/reboot" ]
	[ ! -e "$OMERTA_RUN_DIR/jail/reboot" ]
	run ip netns exec "$PROV" omerta execute --vpn-config "$C" --job-id reboot --script 'echo again'
	[ "$status" -eq 0 ]
	[ "$output" = again ]
}
