#!/usr/bin/env bats
# The examples are real pipelines; make check runs them.

load ../lib/common

setup_file() {
	export TAG=ex$$
}

teardown() {
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" down "$TAG" 2>/dev/null || true
	assert_no_leftovers
}

world() {
	need_root
	sh "$BATS_TEST_DIRNAME/../lib/world.sh" up "$TAG"
	REQ=omt-$TAG-req
	mkdir -p "$OMERTA_RUN_DIR"
}

@test "examples: demo.sh runs a job through a real per-job VPN and kills one that goes around it" {
	need_root
	run sh "$OM_ROOT/examples/demo.sh"
	show
	[ "$status" -eq 0 ]
	[[ "$output" == *"sees the provider, directly, as: 192.0.2.2"* ]]
	[[ "$output" == *"sees this job as: 198.51.100.1"* ]]
	[[ "$output" == *"job 1 exit status: 7"* ]]
	[[ "$output" == *"rogue_connection: tcp to 203.0.113.10:80, VM killed in "* ]]
	[[ "$output" == *"result: rogue_connection_detected"* ]]
	[[ "$output" == *"jobs left running: 0; tunnels left: 0"* ]]
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

@test "examples: batch.sh runs each job with its own tunnel and reports each" {
	world
	mkdir "$BATS_TEST_TMPDIR/jobs"
	echo 'echo one' >"$BATS_TEST_TMPDIR/jobs/a.sh"
	echo 'exit 3' >"$BATS_TEST_TMPDIR/jobs/b.sh"
	run ip netns exec "$REQ" sh "$OM_ROOT/examples/batch.sh" "$BATS_TEST_TMPDIR/jobs" \
		--provider local --endpoint-host 198.51.100.1 --uplink wan
	show
	[ "$status" -eq 0 ]
	[ "$(cut -f1-3 <<<"$output")" = "$(printf 'a.sh\tcompleted\t0\nb.sh\tcompleted\t3')" ]
}

@test "examples: json-pipeline.sh reads the stream with jq as it happens" {
	world
	run ip netns exec "$REQ" sh "$OM_ROOT/examples/json-pipeline.sh" --provider local \
		--endpoint-host 198.51.100.1 --uplink wan
	show
	[ "$status" -eq 0 ]
	[[ "$(sed -n 1p <<<"$output")" == "vpn up after "*" ms of guest time" ]]
	[ "$(sed -n 2,4p <<<"$output")" = "$(printf 'stdout: line 1\nstdout: line 2\nstdout: line 3')" ]
	[[ "$(sed -n 5p <<<"$output")" == "result: completed, exit 4, "* ]]
}

@test "examples: the crontab's lines are well formed and its gc line runs" {
	need_root
	lines=$(grep -v -e '^#' -e '^PATH=' -e '^$' "$OM_ROOT/examples/crontab")
	[ "$(wc -l <<<"$lines")" -eq 2 ]
	while read -r m h dom mon dow user cmd; do
		[ "$user" = root ]
		[[ "$cmd" == omerta\ * ]]
		for f in "$m" "$h" "$dom" "$mon" "$dow"; do [[ "$f" =~ ^[0-9*/,-]+$ ]]; done
	done <<<"$lines"
	run sh -c "$(grep 'omerta gc' "$OM_ROOT/examples/crontab" | cut -d' ' -f7-)"
	[ "$status" -eq 0 ]
}
