#!/usr/bin/env bats
# omerta-exit(7): every exit status a program's page documents is produced here at
# least once, or (the job statuses, which need a VM) in the suite named for it in
# VM_CODES below. The last test checks that nothing documented went untried.

load ../lib/common

setup_file() {
	export EXITS_SEEN=$BATS_FILE_TMPDIR/seen
	: >"$EXITS_SEEN"
}

setup() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$OMERTA_RUN_DIR"
}

teardown() {
	ip netns del "omt-ex$$" 2>/dev/null || true
	assert_no_leftovers
}

# code TOOL WANT CMD...: CMD exits WANT; recorded as tried for TOOL.
code() {
	local tool=$1 want=$2
	shift 2
	run "$@"
	if [ "$status" -ne "$want" ]; then
		echo "$tool: want $want, got $status from: $*"
		echo "$output"
		return 1
	fi
	echo "$tool $want" >>"$EXITS_SEEN"
}

# A device that refuses every write (ENOSPC), as /dev/full does; some containers
# have no /dev/full.
full() {
	[ -c "$T/full" ] || mknod "$T/full" c 1 7
	echo "$T/full"
}

good_conf() {
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.9.0.2/24\n[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.5:51820\nAllowedIPs = 0.0.0.0/0\n' \
		"$(omerta-keygen)" "$(omerta-keygen --pair | cut -f2)" >"$T/good.conf"
}

@test "exits: omerta-keygen 0 1 2 3" {
	code omerta-keygen 0 omerta-keygen
	code omerta-keygen 1 sh -c 'echo notakey | omerta-keygen --public'
	code omerta-keygen 2 omerta-keygen --bogus
	code omerta-keygen 3 sh -c "omerta-keygen >$(full)"
}

@test "exits: omerta-wgconf 0 1 2 3" {
	good_conf
	code omerta-wgconf 0 omerta-wgconf check "$T/good.conf"
	code omerta-wgconf 1 omerta-wgconf check /dev/null
	code omerta-wgconf 1 omerta-wgconf check "$T/missing.conf"
	code omerta-wgconf 2 omerta-wgconf
	code omerta-wgconf 3 sh -c "omerta-wgconf show '$T/good.conf' >$(full)"
}

@test "exits: omerta-mkinitrd 0 1 2 3 4" {
	good_conf
	code omerta-mkinitrd 0 omerta-mkinitrd --vpn-config "$T/good.conf" --script true -o "$T/img"
	code omerta-mkinitrd 1 omerta-mkinitrd --vpn-config /dev/null --script true -o "$T/img"
	code omerta-mkinitrd 2 omerta-mkinitrd --bogus
	code omerta-mkinitrd 3 omerta-mkinitrd --vpn-config "$T/good.conf" --script true -o "$(full)"
	code omerta-mkinitrd 4 omerta-mkinitrd --vpn-config "$T/good.conf" --script true --kernel "$T/none" -o "$T/img"
}

@test "exits: omerta-vpnserve 0 1 2 3 5 (124: vpnserve.bats)" {
	need_root
	code omerta-vpnserve 0 omerta-vpnserve status
	code omerta-vpnserve 1 omerta-vpnserve up --job 'no good' --endpoint-host 198.51.100.1
	code omerta-vpnserve 2 omerta-vpnserve bogus
	code omerta-vpnserve 3 env OMERTA_RUN_DIR=/proc/omerta-none omerta-vpnserve status
	code omerta-vpnserve 5 omerta-vpnserve status --job none
}

@test "exits: omerta-jail run passes its command's status; 1 2 3; status 0 1; stop, down, gc 0" {
	need_root
	ip netns add "omt-ex$$"
	# A route toward the endpoint (the door connects its socket; nothing is sent).
	ip -n "omt-ex$$" link add d0 type veth peer name d1
	ip -n "omt-ex$$" addr add 192.0.2.2/24 dev d0
	ip -n "omt-ex$$" link set d0 up
	ip -n "omt-ex$$" route add default via 192.0.2.1
	code omerta-jail 7 ip netns exec "omt-ex$$" omerta-jail run --job ex1 --endpoint 198.51.100.1:51820 -- sh -c 'exit 7'
	code omerta-jail 1 omerta-jail run --job 'no good' --endpoint 198.51.100.1:51820 -- true
	code omerta-jail 2 omerta-jail
	code omerta-jail 3 env OMERTA_RUN_DIR=/proc/omerta-none ip netns exec "omt-ex$$" omerta-jail run --job ex2 --endpoint 198.51.100.1:51820 -- true
	code omerta-jail 1 omerta-jail status --job none
	code omerta-jail 0 omerta-jail status
	code omerta-jail 0 omerta-jail stop --job none
	code omerta-jail 0 omerta-jail down --job none
	code omerta-jail 0 omerta-jail gc
}

@test "exits: omerta-vmboot 1 2 3 before QEMU (120 123 124 128+N: jail.bats, battery.bats)" {
	good_conf
	k=$KERNEL
	omerta-mkinitrd --vpn-config "$T/good.conf" --script true -o "$T/img"
	code omerta-vmboot 1 omerta-vmboot --kernel "$k" --initrd "$T/img" --no-network --memory 1
	code omerta-vmboot 1 omerta-vmboot --kernel "$T/none" --initrd "$T/img" --no-network
	code omerta-vmboot 2 omerta-vmboot
	# Too few descriptors for its channels: a system error, and QEMU never starts.
	# (Under make SAN=..., LeakSanitizer could not open /proc with 9 descriptors.)
	code omerta-vmboot 3 env ASAN_OPTIONS=detect_leaks=0 \
		sh -c 'ulimit -n 9; exec omerta-vmboot --kernel "$0" --initrd "$1" --no-network' "$k" "$T/img"
	[ -z "$(pgrep -x qemu-system-x86)" ]
}

@test "exits: omerta-vmboot 123 when QEMU ends before the guest reports anything" {
	good_conf
	k=$KERNEL
	omerta-mkinitrd --vpn-config "$T/good.conf" --script 'sleep 60' -o "$T/img"
	omerta-vmboot --kernel "$k" --initrd "$T/img" --no-network --events-fd 3 3>"$T/ev" &
	v=$!
	for _ in $(seq 100); do grep -q started "$T/ev" 2>/dev/null && break; sleep 0.05; done
	# Well before the guest's kernel is up (it cannot report for ~0.7 s under TCG).
	kill -9 "$(jq -r 'select(.event=="started").pid' "$T/ev")"
	rc=0
	wait "$v" || rc=$?
	[ "$rc" -eq 123 ]
	[ "$(jq -r 'select(.event=="exited").status' "$T/ev")" = no_report ]
	echo "omerta-vmboot 123" >>"$EXITS_SEEN"
}

@test "exits: omerta-watch 2 125 (120 121 122 124: watch.bats)" {
	code omerta-watch 2 omerta-watch --json -- true
	code omerta-watch 125 omerta-watch --nflog-group 0 --json --vm-events-fd 3 -- true
}

@test "exits: omerta-escape 0 1 2" {
	code omerta-escape 0 sh -c 'printf "a\033b" | omerta-escape'
	code omerta-escape 1 sh -c "echo x | omerta-escape >$(full)"
	code omerta-escape 2 omerta-escape extra
}

@test "exits: the workflows: execute and submit 125; vpn 1 2 125; status 2; gc 2 125; omerta 2" {
	code omerta-execute 125 omerta-execute --script true --vpn-config "$T/missing.conf"
	code omerta-execute 125 omerta-execute --bogus
	code omerta-submit 125 omerta-submit --create-vpn --script ''
	code omerta-vpn 1 omerta-vpn status --job-id none
	code omerta-vpn 2 omerta-vpn status --bogus
	code omerta-vpn 125 omerta-vpn status --job-id 'no good'
	code omerta-status 2 omerta-status --bogus
	code omerta-gc 2 omerta-gc --bogus
	code omerta-gc 125 setpriv --reuid=65534 --regid=65534 --clear-groups omerta-gc
	code omerta 2 omerta nosuchcommand
	code omerta-provide 125 env -u SSH_ORIGINAL_COMMAND omerta-provide </dev/null
	code omerta-provide 2 omerta-provide status --bogus
	code omerta-provide 1 omerta-provide check /nonexistent/provider.conf
	code omerta-provide 0 omerta-provide check "$OM_ROOT/share/provider.conf"
}

# What each page documents (omerta-exit(7) is the whole table), and where the job
# statuses that need a VM are produced and asserted.
declare -gA DOC_CODES=(
	[omerta-keygen]="0 1 2 3" [omerta-wgconf]="0 1 2 3" [omerta-mkinitrd]="0 1 2 3 4"
	[omerta-vpnserve]="0 1 2 3 5 124" [omerta-jail]="0 1 2 3" [omerta-vmboot]="1 2 3 120 123 124"
	[omerta-watch]="120 121 122 124 125" [omerta-escape]="0 1 2"
	[omerta-execute]="120 121 122 124 125 126 129 130 143" [omerta-submit]="125 129 130 143"
	[omerta-vpn]="1 2 125" [omerta-status]="2" [omerta-gc]="2 125" [omerta-provide]="0 1 2 125"
)
declare -gA VM_CODES=(
	[omerta-vpnserve]="124:vpnserve" [omerta-vmboot]="120:jail 124:jail"
	[omerta-watch]="120:watch 121:watch 122:workflows 124:output"
	[omerta-execute]="120:workflows 121:workflows 122:workflows 124:output 126:provider 129:output 130:output 143:output"
	[omerta-submit]="129:output 130:output 143:output"
)

@test "exits: every documented status was produced here or in the VM suite named for it" {
	[ "${#DOC_CODES[@]}" -eq 14 ] # the table is there (bats sources this file in a function)
	for tool in "${!DOC_CODES[@]}"; do
		page=$OM_ROOT/man/$tool.1
		[ -f "$page" ] || page=$OM_ROOT/man/$tool.8
		status_text=$(awk '/^\.SH EXIT STATUS/{on=1; next} /^\.SH/{on=0} on' "$page")
		grep -q 'omerta-exit' <<<"$status_text" || { echo "$page: EXIT STATUS does not refer to omerta-exit(7)"; false; }
		for c in ${DOC_CODES[$tool]}; do
			grep -qw -- "$c" <<<"$status_text" || { echo "$page does not document $c"; false; }
			grep -qx "$tool $c" "$EXITS_SEEN" && continue
			suite=''
			for v in ${VM_CODES[$tool]:-}; do [ "${v%%:*}" != "$c" ] || suite=${v#*:}; done
			[ -n "$suite" ] || { echo "$tool $c: produced nowhere"; false; }
			grep -qE -- "(-eq|= ) ?\"?$c\b|\b$c\)|rc=$c|want $c| $c \w" "$OM_ROOT/tests/bats/$suite.bats" ||
				{ echo "$tool $c: not asserted in $suite.bats"; false; }
		done
	done
	grep -q 'omerta-exit' "$OM_ROOT/man/omerta-exit.7"
}
