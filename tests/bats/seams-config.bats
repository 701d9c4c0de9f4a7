#!/usr/bin/env bats
# Issue 14, the config seams: what omerta-wgconf reads (UTF-8 comments, a BOM, a
# second [Peer]), how keys are decoded (in constant time), where secrets pass
# (vpnserve's and mkinitrd's buffers, vpnserve's queries of wg), and the exit codes
# the tools agree on. None of these boots a VM.

load ../lib/common

setup() {
	priv=$(omerta-keygen)
	peer=$(omerta-keygen --pair | cut -f2)
	conf="$BATS_TEST_TMPDIR/client.conf"
	write_conf
}

teardown() {
	[ -z "${ns:-}" ] || {
		ip netns exec "$ns" omerta-vpnserve down --job "$job" >/dev/null 2>&1 || true
		ip netns del "$ns" 2>/dev/null || true
	}
	assert_no_leftovers
}

# write_conf [TEXT BEFORE [Interface]] [EXTRA [Peer] LINES]: a sound config.
write_conf() {
	umask 077
	{
		printf '%b' "${1:-}"
		printf '[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/30\n\n' "$priv"
		printf '[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.5:51820\nAllowedIPs = 0.0.0.0/0\n' "$peer"
		printf '%b' "${2:-}"
	} >"$conf"
}

# check_one FILE PATTERN: omerta-wgconf check refuses FILE with exactly one line
# on stderr, which matches PATTERN.
check_one() {
	run --separate-stderr omerta-wgconf check "$1"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 1 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == $2 ]]
}

@test "seams: a UTF-8 comment passes; UTF-8 outside a comment is one error" {
	write_conf '# Z\xc3\xbcrich, B\xc3\xa9ziers \xe2\x82\xac\n' 'PersistentKeepalive = 25 # M\xc3\xbcnchen\n'
	run --separate-stderr omerta-wgconf check "$conf"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	# The comment does not reach what show prints.
	run omerta-wgconf show --json "$conf"
	[ "$status" -eq 0 ]
	[ "$(jq -r .persistent_keepalive <<<"$output")" = 25 ]
	# Keys and values stay ASCII: a no-break space after a value, an accented key.
	write_conf '' 'PersistentKeepalive = 25\xc2\xa0\n'
	check_one "$conf" "omerta-wgconf: $conf:9: non-ASCII byte 0xc2 outside a comment"*
	write_conf '' 'P\xc3\xa9rsistentKeepalive = 25\n'
	check_one "$conf" "omerta-wgconf: $conf:9: non-ASCII byte"*
	# A comment must be well-formed UTF-8, and holds no control bytes.
	write_conf '# Z\xfcrich\n'
	check_one "$conf" "omerta-wgconf: $conf:1: the comment is not valid UTF-8"*
	write_conf '# \xed\xa0\x80\n'
	check_one "$conf" *"not valid UTF-8"*
	write_conf '# a\x1b]52;c;eA==\x07\n'
	check_one "$conf" *"binary data (control byte 0x1b)"
}

@test "seams: a leading byte order mark is skipped; one further on is one error" {
	write_conf '\xef\xbb\xbf'
	run --separate-stderr omerta-wgconf check "$conf"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run omerta-wgconf check - <"$conf"
	[ "$status" -eq 0 ]
	# With CRLF line ends too, as a Windows editor saves it.
	sed 's/$/\r/' "$conf" >"$conf.crlf"
	run omerta-wgconf check "$conf.crlf"
	[ "$status" -eq 0 ]
	# A BOM that is all there is: empty.
	printf '\357\273\277' >"$conf.bom"
	check_one "$conf.bom" *"empty input"
	# Not at the start: one error, and the section it spoils is not a cascade.
	printf '# x\n\357\273\277' >"$conf.mid"
	cat "$conf" >>"$conf.mid"
	run --separate-stderr omerta-wgconf check "$conf.mid"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 1 ]
	[[ "$(sed -n 1p <<<"$stderr")" == "omerta-wgconf: $conf.mid:2: non-ASCII byte 0xef outside a comment"* ]]
	[ "$(grep -c 'outside any section' <<<"$stderr")" -eq 0 ]
}

@test "seams: a second [Peer] is exactly one error, and its keys are not reported again" {
	write_conf '' "\n[Peer]\nPublicKey = $peer\nEndpoint = 198.51.100.7:51820\nAllowedIPs = 0.0.0.0/0\nPersistentKeepalive = 5\n"
	check_one "$conf" "omerta-wgconf: $conf:10: more than one [[]Peer[]] section: only one is allowed"*
	# A second [Interface] likewise.
	write_conf '' "[Interface]\nPrivateKey = $priv\nAddress = 10.9.9.2/32\n"
	check_one "$conf" "omerta-wgconf: $conf:9: duplicate [[]Interface[]] section: only one is allowed"
	# A hook in the skipped section is still refused, as a second error.
	write_conf '' "[Peer]\nPostUp = id\nPublicKey = $peer\n"
	run --separate-stderr omerta-wgconf check "$conf"
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 2 ]
	[[ "$stderr" == *"PostUp is refused"* ]]
}

@test "seams: key base64 has no branch or table lookup on the key (valgrind, gcc and clang)" {
	command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; false; }
	[ -f /usr/include/valgrind/memcheck.h ]
	for cc in gcc clang; do
		for opt in -O2 -Os; do
			# shellcheck disable=SC2046
			"$cc" -std=c11 -D_GNU_SOURCE "$opt" -gdwarf-4 -DT_KEY_CT_MAIN -I"$OM_ROOT/lib" \
				-I"$OM_ROOT/tests/unit" -o "$BATS_TEST_TMPDIR/ct" "$OM_ROOT/tests/unit/t_key.c" \
				"$OM_ROOT/lib/om_key.c" "$OM_ROOT/lib/om_keyb64.c" $(pkg-config --cflags --libs libsodium)
			run valgrind -q --error-exitcode=99 "$BATS_TEST_TMPDIR/ct"
			echo "$cc $opt: status=$status $output"
			[ "$status" -eq 0 ]
			[ "$output" = "key-ct: 0 failed" ]
		done
	done
}

# vs_ns: a namespace of this test's own, with only lo, for one vpnserve job. The
# root namespace's routes and firewall are never touched.
vs_ns() {
	need_root
	ns=omt-seams$$-vs
	job=seams$$
	ip netns add "$ns"
	ip -n "$ns" link set lo up
}

vs() { ip netns exec "$ns" omerta-vpnserve "$@"; }

vs_up() { vs up --job "$job" --endpoint-host 198.51.100.1 --no-internet --owner $$ "$@"; }

# gcore_at_exit DIR PROGRAM ARGS...: runs PROGRAM under gdb, which writes DIR/core,
# the process's whole memory, when it calls exit_group (after stdio's last flush),
# then kills it. Its stdin is empty; its stdout goes to DIR/out.
gcore_at_exit() {
	local dir=$1 prog=$2 args
	shift 2
	command -v gdb >/dev/null || { echo "needs gdb (apt-get install gdb)"; return 1; }
	# An ASan build (make SAN=...) maps terabytes of shadow memory: its core would
	# fill the disk (it did). Such a build cannot take this test; say so and fail.
	if ldd "$(command -v "$prog")" 2>/dev/null | grep -q libasan; then
		echo "$prog is built with ASan: a core of its memory cannot be taken (build without SAN)"
		return 1
	fi
	args=$(printf '%q ' "$@")
	: >"$dir/null"
	gdb -q -batch -ex 'catch syscall exit_group' -ex "run $args <$dir/null >$dir/out" \
		-ex "gcore $dir/core" -ex kill "$prog" >"$dir/gdb.log" 2>&1 </dev/null
	grep -q '^Saved corefile' "$dir/gdb.log" || { cat "$dir/gdb.log"; return 1; }
}

@test "seams: vpnserve wait reports a timeout as 124, as the pipeline does" {
	vs_ns
	vs_up >"$BATS_TEST_TMPDIR/c.conf"
	run --separate-stderr vs wait --job "$job" --timeout 1
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 124 ]
	[[ "$stderr" == "omerta-vpnserve: job $job: no handshake from the client within 1 s" ]]
	run vs status --job nosuch
	[ "$status" -eq 5 ]
}

@test "seams: vpnserve status and wait never ask wg for a private key" {
	command -v strace >/dev/null || { echo "needs strace (apt-get install strace)"; false; }
	vs_ns
	t=$BATS_TEST_TMPDIR/trace
	# up without -f: strace would follow wireguard-go, which stays. wg setconf,
	# its one wg run, reads the key from a file and prints nothing.
	vs_up >"$BATS_TEST_TMPDIR/c.conf"
	# (LeakSanitizer cannot run under ptrace: under make SAN=... it would fail the tool.)
	ip netns exec "$ns" env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -s 200 -e trace=execve -o "$t.status" \
		omerta-vpnserve status --job "$job" --json
	run ip netns exec "$ns" env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -s 200 -e trace=execve -o "$t.wait" \
		omerta-vpnserve wait --job "$job" --timeout 1
	[ "$status" -eq 124 ] # timed out: no client here
	# Every wg run, with its arguments: setconf for up, then show VERB.
	grep -h 'execve("[^"]*/wg", ' "$t.status" "$t.wait" | sed 's/^[0-9]* *//' >"$t.wg"
	cat "$t.wg"
	grep -q '"latest-handshakes"' "$t.status"
	grep -q '"transfer"' "$t.status"
	grep -q '"latest-handshakes"' "$t.wait"
	# dump, showconf, private-key and preshared-keys print secrets; a bare
	# "show IFACE" prints the PSK's presence and more than is needed.
	[ "$(grep -cE '"(dump|showconf|private-key|preshared-keys)"' "$t.wg")" -eq 0 ]
	[ "$(grep -cE '\["wg", "show", "[^"]*"\]' "$t.wg")" -eq 0 ]
	# And status still reads what it used to.
	run vs status --job "$job" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.latest_handshake, .rx_bytes, .state' <<<"$output" | tr '\n' ' ')" = "0 0 up " ]
}

@test "seams: vpnserve up leaves no copy of the client's key, the PSK or the server's key in its memory" {
	vs_ns
	# gdb runs in the job's namespace, and so does what it starts.
	ip netns exec "$ns" bash -c "$(declare -f gcore_at_exit); gcore_at_exit \"\$@\"" - \
		"$BATS_TEST_TMPDIR" "$(command -v omerta-vpnserve)" up --job "$job" --endpoint-host 198.51.100.1 \
		--no-internet --owner $$
	cp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/c.conf"
	ckey=$(sed -n 's/^PrivateKey = //p' "$BATS_TEST_TMPDIR/c.conf")
	psk=$(sed -n 's/^PresharedKey = //p' "$BATS_TEST_TMPDIR/c.conf")
	ifn=$(sed -n 's/^interface=//p' "$OMERTA_RUN_DIR/vpn/$job/state")
	skey=$(ip netns exec "$ns" wg show "$ifn" private-key)
	[ "${#ckey}" -eq 44 ]
	[ "${#psk}" -eq 44 ]
	[ "${#skey}" -eq 44 ]
	# The core is the process's memory: its own arguments are there.
	grep -qF -- "--endpoint-host" "$BATS_TEST_TMPDIR/core"
	for k in "$ckey" "$psk" "$skey"; do
		n=$(grep -cF -- "$k" "$BATS_TEST_TMPDIR/core" || true)
		[ "$n" -eq 0 ] || { echo "a key is still in memory ($n)"; false; }
	done
	# The config works as before.
	ip netns exec "$ns" omerta-wgconf check --allow-private-endpoint "$BATS_TEST_TMPDIR/c.conf"
}

@test "seams: vpnserve up whose reader went away fails with one line, exit 3, and leaves no job" {
	vs_ns
	run --separate-stderr bash -c 'ip netns exec "$0" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --no-internet --owner "$2" | true; exit "${PIPESTATUS[0]}"' "$ns" "$job" $$
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 3 ]
	[[ "$stderr" == "omerta-vpnserve: write the client config: Broken pipe" ]]
	[ ! -e "$OMERTA_RUN_DIR/vpn/$job" ]
	run vs status --job "$job"
	[ "$status" -eq 5 ]
}

@test "seams: mkinitrd leaves no copy of the key in its memory; a failed write is one line, exit 3" {
	t=$BATS_TEST_TMPDIR
	psk=$(omerta-keygen --psk)
	write_conf '' "PresharedKey = $psk\n"
	# A script large enough that a growing buffer would be reallocated many times.
	head -c 300000 /dev/zero | tr '\0' '#' >"$t/big.sh"
	gcore_at_exit "$t" "$(command -v omerta-mkinitrd)" --vpn-config "$conf" --script-file "$t/big.sh" -o "$t/img"
	[ "$(stat -c %a "$t/img")" = 600 ]
	grep -qF -- "$priv" "$t/img"
	grep -qF -- "big.sh" "$t/core"
	for k in "$priv" "$psk"; do
		n=$(grep -cF -- "$k" "$t/core" || true)
		[ "$n" -eq 0 ] || { echo "a key is still in memory ($n)"; false; }
	done
	# The job archive is what it was: the same bytes for the same inputs.
	omerta-mkinitrd --vpn-config "$conf" --script-file "$t/big.sh" -o "$t/img2"
	cmp "$t/img" "$t/img2"
	# A script at the cap still fits the fixed buffer.
	head -c 1048576 /dev/zero | tr '\0' '#' >"$t/cap.sh"
	omerta-mkinitrd --vpn-config "$conf" --script-file "$t/cap.sh" >"$t/cap.img"
	tail -c 1100000 "$t/cap.img" | grep -qF -- "$priv"
	# Output that cannot be written: one line, exit 3. A full device of our own
	# (some containers have no /dev/full, and writing there would make a file).
	mknod "$t/full" c 1 7
	run --separate-stderr omerta-mkinitrd --vpn-config "$conf" --script x -o "$t/full"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 3 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"No space left on device" ]]
	run --separate-stderr bash -c '"$0" --vpn-config "$1" --script x | head -c 100 >/dev/null; exit "${PIPESTATUS[0]}"' \
		"$(command -v omerta-mkinitrd)" "$conf"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 3 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"Broken pipe" ]]
}

@test "seams: a missing file is exit 1 with one line in both wgconf and mkinitrd" {
	for cmd in "omerta-wgconf check $BATS_TEST_TMPDIR/none.conf" \
		"omerta-wgconf show --json $BATS_TEST_TMPDIR/none.conf" \
		"omerta-mkinitrd --vpn-config $BATS_TEST_TMPDIR/none.conf --script x" \
		"omerta-mkinitrd --vpn-config $conf --script-file $BATS_TEST_TMPDIR/none.sh"; do
		# shellcheck disable=SC2086
		run --separate-stderr $cmd
		echo "$cmd: status=$status stderr=$stderr"
		[ "$status" -eq 1 ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == *": $BATS_TEST_TMPDIR/none."*": No such file or directory" ]]
		[ -z "$output" ]
	done
	# Both pages say so.
	for m in omerta-wgconf omerta-mkinitrd; do
		sed -n '/^\.SH EXIT STATUS/,/^\.SH EXAMPLES/p' "$OM_ROOT/man/$m.1" | grep -q "does not exist or cannot be read"
	done
}
