#!/usr/bin/env bats
# tests/lib/sweep.sh, which tests/run calls before anything else: what a test run that
# was killed whole left goes; what has a live owner stays and is reported.

load ../lib/common

setup() {
	need_root
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/tmp"
}

teardown() {
	ip netns del "omt-sw$$-live" 2>/dev/null || true
	[ -z "${dead:-}" ] || TMPDIR=$T/tmp sh "$OM_ROOT/tests/lib/world.sh" down "sw$dead"
	rm -f /var/run/wireguard/omsweeptest.sock
	assert_no_leftovers
}

@test "sweep: a killed run's world, run folder and wireguard-go socket go; a live owner's namespace stays and fails the run" {
	dead=$(sh -c 'echo $$')
	[ ! -d "/proc/$dead" ]
	# A world whose bats is gone, with its servers still running.
	TMPDIR=$T/tmp sh "$OM_ROOT/tests/lib/world.sh" up "sw$dead"
	pids=$(cat "$T/tmp/omt-world-sw$dead"/*.pid)
	[ -n "$pids" ]
	# A namespace whose maker lives (this bats).
	ip netns add "omt-sw$$-live"
	# A killed bats' run folder holding a provider job whose execute is gone, and a
	# live bats' folder.
	mkdir -p "$T/tmp/bats-run-dead/file/0/run/exec/jdead" "$T/tmp/bats-run-live"
	: >"$T/tmp/bats-run-dead/bats.$dead.out"
	printf 'pid=%s\n' "$dead" >"$T/tmp/bats-run-dead/file/0/run/exec/jdead/state"
	: >"$T/tmp/bats-run-live/bats.$$.out"
	# The control socket of a wireguard-go that was killed.
	mkdir -p /var/run/wireguard
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' /var/run/wireguard/omsweeptest.sock
	[ -S /var/run/wireguard/omsweeptest.sock ]

	run --separate-stderr env TMPDIR="$T/tmp" sh "$OM_ROOT/tests/lib/sweep.sh"
	show
	echo "stderr=$stderr"
	[ "$status" -eq 1 ]
	for h in wan inet req prov prov2; do
		grep -qx "sweep: removed the netns omt-sw$dead-$h of a test run (PID $dead) that is gone" <<<"$output"
		[ -z "$(ip netns list | grep "^omt-sw$dead-$h\b")" ]
	done
	for p in $pids; do # SIGTERM'd; give them a moment to go
		for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
		[ ! -d "/proc/$p" ]
	done
	[ ! -e "$T/tmp/omt-world-sw$dead" ]
	grep -qx "sweep: omerta-gc removed provider	jdead" <<<"$output"
	grep -qx "sweep: removed bats-run-dead, left by a bats run that is gone" <<<"$output"
	[ ! -e "$T/tmp/bats-run-dead" ]
	[ -e "$T/tmp/bats-run-live/bats.$$.out" ]
	grep -qx "sweep: removed the socket of a wireguard-go that is gone: omsweeptest" <<<"$output"
	[ ! -e /var/run/wireguard/omsweeptest.sock ]
	# The live one stays, and is named as the reason the run cannot start.
	ip netns list | grep -q "^omt-sw$$-live\b"
	grep -q "^sweep:   netns omt-sw$$-live$" <<<"$stderr"
	ip netns del "omt-sw$$-live"

	# Nothing left: a clean sweep says nothing and exits 0.
	run --separate-stderr env TMPDIR="$T/tmp" sh "$OM_ROOT/tests/lib/sweep.sh"
	show
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	dead=
}
