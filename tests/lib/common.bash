# Shared set-up for the bats suites. Every suite loads this file.
bats_require_minimum_version 1.5.0
OM_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export PATH="$OM_ROOT/bin:$PATH"
export OMERTA_RUN_DIR="$BATS_FILE_TMPDIR/run"
export OMERTA_CACHE_DIR="$BATS_FILE_TMPDIR/cache"

# om_leftovers: what omerta or a suite left (tests/lib/leftovers.sh).
. "$OM_ROOT/tests/lib/leftovers.sh"

# Fails the test, listing what was left, when anything omerta-named remains.
assert_no_leftovers() {
	local left
	left=$(om_leftovers)
	if [ -n "$left" ]; then
		echo "left behind after the test:" >&2
		echo "$left" >&2
		return 1
	fi
}

# One line of sh that a root workload runs to flush its own kill switch: the image
# holds no nft, so the attacker brings build/nft-flush in its script.
FLUSH=$(sh "$OM_ROOT/tests/lib/nft-flush.sh")

need_root() {
	# A test that needs root fails (never skips) without it: make check runs as root.
	[ "$(id -u)" -eq 0 ] || { echo "this test needs root (sudo make check)" >&2; return 1; }
}

# "status: N" and output on failure, for readable bats logs.
show() { echo "status=$status"; echo "output=$output"; }

# world_up NAME: the test world (tests/lib/world.sh) for a whole file, in setup_file.
world_up() {
	need_root
	export TAG=$1$$
	sh "$OM_ROOT/tests/lib/world.sh" up "$TAG"
	export REQ=omt-$TAG-req PROV=omt-$TAG-prov PROV2=omt-$TAG-prov2 INET=omt-$TAG-inet
	export LAN=omt-$TAG-lan WAN=omt-$TAG-wan
	KERNEL=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
	export KERNEL
}

# world_down, in teardown_file: the world goes, and nothing may be left.
world_down() {
	sh "$OM_ROOT/tests/lib/world.sh" down "$TAG"
	TAG='' assert_no_leftovers
}

# vm_teardown, in teardown of tests that boot VMs: the requester's servers go, QEMU
# must be gone, and nothing may be left.
vm_teardown() {
	local j
	for j in $(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null); do
		ip netns exec "$REQ" omerta-vpnserve down --job "$j" >/dev/null 2>&1 || true
	done
	for _ in $(seq 30); do [ -z "$(pgrep -x qemu-system-x86)" ] && break; sleep 0.1; done
	assert_no_leftovers
	[ -z "$(pgrep -x qemu-system-x86)" ]
}

# wg_userspace NS IFNAME: start wireguard-go for IFNAME in NS (its PID in $wg_pid)
# and wait until its UAPI socket answers. On a loaded CI machine the first start
# took over 5 s, and wg then fell back to the kernel's netlink ("Protocol not
# supported"), so wait up to 30 s and say plainly if it never came.
wg_userspace() {
	WG_PROCESS_FOREGROUND=1 ip netns exec "$1" wireguard-go "$2" >/dev/null 2>&1 &
	wg_pid=$!
	local i
	for i in $(seq 300); do
		ip netns exec "$1" wg show "$2" >/dev/null 2>&1 && return 0
		kill -0 "$wg_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "wireguard-go $2 in $1 never answered on its socket" >&2
	return 1
}

# listen NS ADDR PORT NAME: a TCP+UDP target (tests/lib/listen.py) that logs who
# reached it in $BATS_TEST_TMPDIR/NAME.log; its PID joins $listeners, which the
# suite's teardown kills.
listen() {
	ip netns exec "$1" python3 "$OM_ROOT/tests/lib/listen.py" "$2" "$3" "$BATS_TEST_TMPDIR/$4.log" &
	listeners="${listeners:-} $!"
	for _ in $(seq 100); do [ -e "$BATS_TEST_TMPDIR/$4.log" ] && return 0; sleep 0.05; done
	return 1
}
