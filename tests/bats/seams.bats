#!/usr/bin/env bats
# The seams between the tools (issue 14) that need no VM: one choice of the server's
# tunnel address, one name per concept (old names kept), the watcher's documented
# exit codes, and the provider-side answer when omerta is not installed.

load ../lib/common

setup() { T=$BATS_TEST_TMPDIR; }
teardown() { assert_no_leftovers; }

# conf ADDRESS [DNS]: a config with that Address (and DNS).
conf() {
	{
		printf '[Interface]\nPrivateKey = %s\nAddress = %s\n' "$(omerta-keygen)" "$1"
		[ -z "${2:-}" ] || printf 'DNS = %s\n' "$2"
		printf '[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.5:51820\nAllowedIPs = 0.0.0.0/0\n' \
			"$(omerta-keygen --pair | cut -f2)"
	} >"$T/c.conf"
}

# The server_ip= line of the job file inside an image mkinitrd built.
image_server_ip() {
	local base size
	base=$(omerta-mkinitrd --base)
	size=$(stat -c %s "$base")
	tail -c +$((size + 1)) "$1" >"$T/job.cpio"
	mkdir -p "$T/x"
	(cd "$T/x" && cpio -id --quiet <"$T/job.cpio")
	sed -n 's/^server_ip=//p' "$T/x/etc/omerta/job"
	cp "$T/x/etc/omerta/job" "$T/job"
	rm -rf "$T/x"
}

@test "seams: the server's tunnel address is one choice: wgconf show prints what mkinitrd (and omerta vpn test) use" {
	# A DNS server inside the tunnel is the server; omerta vpn used to take .1 here.
	conf 10.9.0.7/24 10.9.0.53
	[ "$(omerta-wgconf show --json "$T/c.conf" | jq -r .server_ip)" = 10.9.0.53 ]
	[ "$(omerta-wgconf show "$T/c.conf" | awk -F'\t' '$1=="server_ip"{print $2}')" = 10.9.0.53 ]
	omerta-mkinitrd --vpn-config "$T/c.conf" --script true -o "$T/img"
	[ "$(image_server_ip "$T/img")" = 10.9.0.53 ]
	# No DNS: the first host of the subnet.
	conf 10.9.0.7/24
	[ "$(omerta-wgconf show --json "$T/c.conf" | jq -r .server_ip)" = 10.9.0.1 ]
	omerta-mkinitrd --vpn-config "$T/c.conf" --script true -o "$T/img"
	[ "$(image_server_ip "$T/img")" = 10.9.0.1 ]
	# A /32 cannot tell: null, and the image verifies the tunnel by the handshake
	# instead (a commercial VPN's config; issue 16).
	conf 10.9.0.7/32
	[ "$(omerta-wgconf show --json "$T/c.conf" | jq -r .server_ip)" = null ]
	[ "$(omerta-wgconf show "$T/c.conf" | awk -F'\t' '$1=="server_ip"{print $2}')" = - ]
	omerta-mkinitrd --vpn-config "$T/c.conf" --script true -o "$T/img"
	[ "$(image_server_ip "$T/img")" = - ]
	[ "$(sed -n 's/^verify=//p' "$T/job")" = handshake ]
}

@test "seams: one name per concept: --endpoint and --server-ip everywhere, the old --vpn-* names still work" {
	conf 10.9.0.7/32
	omerta-mkinitrd --vpn-config "$T/c.conf" --script true --server-ip 10.9.0.1 --endpoint 198.51.100.7:5000 \
		--allow-private-endpoint -o "$T/a.img"
	[ "$(image_server_ip "$T/a.img")" = 10.9.0.1 ]
	omerta-mkinitrd --vpn-config "$T/c.conf" --script true --vpn-server-ip 10.9.0.1 --vpn-endpoint 198.51.100.7:5000 \
		--allow-private-endpoint -o "$T/b.img"
	# The same inputs by either name make the same job (the key aside, none differs).
	[ "$(image_server_ip "$T/b.img")" = 10.9.0.1 ]
	omerta-wgconf show --endpoint 198.51.100.7:5000 "$T/c.conf" | grep -qx $'endpoint\t198.51.100.7:5000'
	for t in omerta-execute omerta-mkinitrd; do
		"$t" --help | grep -q -- '--endpoint HOST:PORT'
		"$t" --help | grep -q -- '--server-ip IP'
	done
	omerta-vpn --help | grep -q -- '--server-ip IP'
	# execute takes both spellings (refused later for the missing config, not the name).
	run omerta-execute --script true --vpn-config "$T/nope" --endpoint 198.51.100.7:5000 --server-ip 10.9.0.1
	[[ $output != *"unknown option"* ]]
	run omerta-execute --script true --vpn-config "$T/nope" --vpn-endpoint 198.51.100.7:5000 --vpn-server-ip 10.9.0.1
	[[ $output != *"unknown option"* ]]
}

@test "seams: omerta-watch's bad input exits 125, as its page says (was 1); bad usage 2" {
	run omerta-watch --nflog-group 0 --events-fd 1 --vm-events-fd 3 -- true
	[ "$status" -eq 125 ]
	[[ $output == *"--nflog-group"* ]]
	run omerta-watch --events-fd 99 --vm-events-fd 3 -- true
	[ "$status" -eq 125 ]
	run omerta-watch --vm-events-fd 3 --vm-stdout-fd 3 --vm-stderr-fd 4 --json -- true
	[ "$status" -eq 125 ]
	[[ $output == *"must differ"* ]]
	run omerta-watch --json -- true
	[ "$status" -eq 2 ]
	run omerta-watch --vm-events-fd 3 --vm-stdout-fd 6 --json -- true
	[ "$status" -eq 2 ]
}

@test "seams: a provider without omerta-provide answers 125, not a 127 that reads as the workload's" {
	# The remote command omerta submit sends, run by a shell whose PATH has no omerta.
	cmd=$(sed -n 's/.*"\(command -v omerta-provide[^"]*\)".*/\1/p' "$(command -v omerta-submit)")
	[ -n "$cmd" ]
	# (An empty folder: /usr/bin may hold an installed omerta-provide; the command is
	# all builtins.)
	mkdir -p "$BATS_TEST_TMPDIR/empty"
	run env PATH="$BATS_TEST_TMPDIR/empty" /bin/sh -c "${cmd/\$\*/--json}" </dev/null
	[ "$status" -eq 125 ]
	[[ $output == *"not installed on the provider"* ]]
}

# watch_fake SCRIPT: omerta-watch in a namespace of its own (no door), with a fake
# vmboot (sh -c SCRIPT) writing records on fd 4; text events on fd 3 to $T/ev.
watch_fake() {
	ip netns add "omt-sw$$"
	run ip netns exec "omt-sw$$" omerta-watch --no-door --text --events-fd 3 --vm-events-fd 4 -- sh -c "$1" 3>"$T/ev"
	ip netns del "omt-sw$$"
}

@test "seams: the watcher reads its tools' records strictly (lib/om_jrec): nested, escaped, and a malformed one ends the job" {
	need_root
	watch_fake 'printf "%s\n" "{\"event\":\"started\",\"time_ms\":1,\"pid\":1}" \
		"{\"event\":\"exited\",\"time_ms\":2,\"status\":\"completed\",\"exit_code\":3,\"guest_ms\":{\"kernel\":5},\"note\":\"a \\\"b\\\"\",\"n\":null}" >&4'
	echo "$output"; cat "$T/ev"
	[ "$status" -eq 3 ]
	grep -qx 'exited time_ms=2 status=completed exit_code=3 guest_ms.kernel=5 note=a "b" n=null' "$T/ev"
	grep -q '^watch_result .* status=completed exit_code=3 ' "$T/ev"
	# A record of ours that does not parse is never passed over: error, named.
	watch_fake 'printf "%s\n" "{\"event\":\"exited\",\"status\":\"completed\",\"exit_code\":0" >&4'
	[ "$status" -eq 125 ]
	grep -q '^watch_result .*status=error .*reason=a malformed event line from vmboot' "$T/ev"
	# exit_code written as a string is not a number: the job did not report one.
	watch_fake 'printf "%s\n" "{\"event\":\"exited\",\"status\":\"completed\",\"exit_code\":\"0\"}" >&4'
	[ "$status" -eq 125 ]
}
