#!/usr/bin/env bats
# omerta-keygen: format, clamping, and interop with the real wg(8).

load ../lib/common

teardown() { assert_no_leftovers; }

key_bytes() { printf '%s' "$1" | base64 -d | od -An -tu1 -v | tr -s ' \n' ' '; }

@test "keygen: a private key is 44 chars of base64 decoding to 32 clamped bytes" {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		run omerta-keygen
		[ "$status" -eq 0 ]
		[ "${#output}" -eq 44 ]
		[[ "$output" =~ ^[A-Za-z0-9+/]{43}=$ ]]
		read -r -a b <<<"$(key_bytes "$output")"
		[ "${#b[@]}" -eq 32 ]
		[ $((b[0] & 7)) -eq 0 ]
		[ $((b[31] & 128)) -eq 0 ]
		[ $((b[31] & 64)) -eq 64 ]
	done
}

@test "keygen: two keys differ" {
	a=$(omerta-keygen)
	b=$(omerta-keygen)
	[ "$a" != "$b" ]
}

@test "keygen: wg pubkey accepts our keys and agrees with --public (50 keys)" {
	for _ in $(seq 50); do
		k=$(omerta-keygen)
		ours=$(printf '%s\n' "$k" | omerta-keygen --public)
		theirs=$(printf '%s\n' "$k" | wg pubkey)
		[ -n "$ours" ]
		[ "$ours" = "$theirs" ]
	done
}

@test "keygen: --public equals wg pubkey for keys from wg genkey and wg genpsk (50 each)" {
	for _ in $(seq 50); do
		k=$(wg genkey)
		[ "$(printf '%s' "$k" | omerta-keygen --public)" = "$(printf '%s' "$k" | wg pubkey)" ]
		# An unclamped key: wg pubkey clamps before multiplying, and so must we.
		p=$(wg genpsk)
		[ "$(printf '%s' "$p" | omerta-keygen --public)" = "$(printf '%s' "$p" | wg pubkey)" ]
	done
}

@test "keygen: --pair prints a private key and its public key; --json is one object" {
	run omerta-keygen --pair
	[ "$status" -eq 0 ]
	priv=$(cut -f1 <<<"$output")
	pub=$(cut -f2 <<<"$output")
	[ "$(printf '%s' "$priv" | wg pubkey)" = "$pub" ]
	run omerta-keygen --pair --json
	[ "$status" -eq 0 ]
	priv=$(jq -r .private_key <<<"$output")
	pub=$(jq -r .public_key <<<"$output")
	[ "$(printf '%s' "$priv" | wg pubkey)" = "$pub" ]
	[ "$(jq -r 'keys_unsorted|join(",")' <<<"$output")" = "private_key,public_key" ]
}

@test "keygen: --psk prints 32 random bytes that wg accepts as a key" {
	run omerta-keygen --psk
	[ "$status" -eq 0 ]
	[ "${#output}" -eq 44 ]
	printf '%s' "$output" | wg pubkey >/dev/null
	[ "$output" != "$(omerta-keygen --psk)" ]
}

@test "keygen: malformed keys on stdin get one line on stderr and exit 1" {
	good=$(omerta-keygen)
	for bad in "" "abc" "${good%=}" "${good}=" "${good:0:42}!=" "${good} trailing" \
		"${good:0:42}B=" "$(head -c 44 /dev/zero | tr '\0' 'A')" "$(printf 'x%.0s' $(seq 3000))"; do
		run --separate-stderr omerta-keygen --public <<<"$bad"
		[ "$status" -eq 1 ] || { echo "accepted: '$bad' ($status)"; false; }
		[ -z "$output" ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == omerta-keygen:* ]]
	done
	run --separate-stderr omerta-keygen --public < <(head -c 100000 /dev/urandom)
	[ "$status" -eq 1 ]
}

@test "keygen: an error never echoes the key it was given" {
	good=$(omerta-keygen)
	run --separate-stderr omerta-keygen --public <<<"$good junk"
	[ "$status" -eq 1 ]
	[[ "$stderr" != *"${good:0:20}"* ]]
}

@test "keygen: warns when writing a private key to a file others can read" {
	f="$BATS_TEST_TMPDIR/key"
	( umask 022; omerta-keygen >"$f" 2>"$f.err" )
	grep -q 'group or others can read' "$f.err"
	[ "$(wc -c <"$f")" -eq 45 ]
	rm -f "$f" "$f.err"
	( umask 077; omerta-keygen >"$f" 2>"$f.err" )
	[ ! -s "$f.err" ]
}

@test "keygen: keys are never taken on argv; bad usage exits 2" {
	run omerta-keygen "$(omerta-keygen)"
	[ "$status" -eq 2 ]
	run omerta-keygen --public --pair
	[ "$status" -eq 2 ]
	run omerta-keygen --json
	[ "$status" -eq 2 ]
	run omerta-keygen --bogus
	[ "$status" -eq 2 ]
	run omerta-keygen --version
	[ "$status" -eq 0 ]
	[[ "$output" == "omerta-keygen "* ]]
}
