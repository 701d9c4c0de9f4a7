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
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	# The comment does not reach what show prints.
	run omerta-wgconf show --json "$conf"
	[ "$status" -eq 0 ] && [ "$(jq -r .persistent_keepalive <<<"$output")" = 25 ]
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
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
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
	[ "$status" -eq 1 ] && [ "$(wc -l <<<"$stderr")" -eq 2 ] && [[ "$stderr" == *"PostUp is refused"* ]]
}

@test "seams: key base64 has no branch or table lookup on the key (valgrind, gcc and clang)" {
	command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; false; }
	[ -f /usr/include/valgrind/memcheck.h ]
	for cc in gcc clang; do
		for opt in -O2 -Os; do
			# shellcheck disable=SC2046
			"$cc" -std=c11 -D_GNU_SOURCE "$opt" -gdwarf-4 -DT_KEY_CT_MAIN -I"$OM_ROOT/lib" \
				-I"$OM_ROOT/tests/unit" -o "$BATS_TEST_TMPDIR/ct" "$OM_ROOT/tests/unit/t_key.c" \
				"$OM_ROOT/lib/om_key.c" $(pkg-config --cflags --libs libsodium)
			run valgrind -q --error-exitcode=99 "$BATS_TEST_TMPDIR/ct"
			echo "$cc $opt: status=$status $output"
			[ "$status" -eq 0 ] && [ "$output" = "key-ct: 0 failed" ]
		done
	done
}
