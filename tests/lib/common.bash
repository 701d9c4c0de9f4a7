# Shared set-up for the bats suites. Every suite loads this file.
bats_require_minimum_version 1.5.0
OM_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# The tools under test: this checkout's bin/, or with OMERTA_INSTALLED=1 the installed
# package's (OMERTA_PREFIX, default /usr: PREFIX/bin, PREFIX/sbin, and the guest's
# files in PREFIX/lib/omerta), so that the same suites prove an installed omerta.
# OM_BIN and OM_SBIN are where the user and the root-only tools are, OM_GUEST the
# guest's /init and helper; the tests' own helpers (build/nft-flush) stay the checkout's.
if [ -n "${OMERTA_INSTALLED:-}" ]; then
	OM_PREFIX=${OMERTA_PREFIX:-/usr}
	OM_BIN=$OM_PREFIX/bin OM_SBIN=$OM_PREFIX/sbin OM_GUEST=$OM_PREFIX/lib/omerta/initramfs
else
	OM_BIN=$OM_ROOT/bin OM_SBIN=$OM_ROOT/bin OM_GUEST=$OM_ROOT/initramfs
fi
export OM_BIN OM_SBIN OM_GUEST
export PATH="$OM_SBIN:$OM_BIN:$PATH"
export OMERTA_RUN_DIR="$BATS_FILE_TMPDIR/run"
export OMERTA_CACHE_DIR="$BATS_FILE_TMPDIR/cache"
export OMERTA_DISK_DIR="$BATS_FILE_TMPDIR/disks"
export OMERTA_IMAGE_DIR="$OM_ROOT/build/images"
# The guest kernel the suites boot: $OMERTA_KERNEL (make check-kernel sets it to
# omerta's own), else Debian's newest. Each suite has its own cache folder, so a
# kernel built in /var/cache/omerta is not chosen by itself here.
KERNEL=${OMERTA_KERNEL:-$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)}
export KERNEL

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
	local i try log=$BATS_TEST_TMPDIR/wireguard-go.$2.log
	# A client of the test world, not the system under test: one that exits at
	# once (seen once in CI, in 795 ms) is started again, once, and what it said
	# is shown.
	for try in 1 2; do
		WG_PROCESS_FOREGROUND=1 ip netns exec "$1" wireguard-go "$2" >"$log" 2>&1 &
		wg_pid=$!
		for i in $(seq 300); do
			ip netns exec "$1" wg show "$2" >/dev/null 2>&1 && return 0
			kill -0 "$wg_pid" 2>/dev/null || break
			sleep 0.1
		done
		echo "wireguard-go $2 in $1 never answered on its socket (try $try): $(tr '\n' ' ' <"$log")" >&2
		kill -0 "$wg_pid" 2>/dev/null && return 1 # alive but silent for 30 s: no second try
		ip -n "$1" link del "$2" 2>/dev/null || true
	done
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

# sshd_up [PATH_PREFIX]: a real sshd in the provider's namespace on 192.0.2.2:2222,
# root's key login only, for the requester's ssh with OMERTA_SSH_CONFIG=$T/ssh_config;
# omerta-provide's policy is $T/provider.conf (PROVIDER_CONF_EXTRA adds lines), its
# audit log $T/jobs.jsonl;
# the provider's PATH starts with PATH_PREFIX, then the checkout's bin. sshd_down
# (in teardown) stops it by its PID.
sshd_up() {
	command -v sshd >/dev/null || [ -x /usr/sbin/sshd ]
	mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"
	cp "$T/client_key.pub" "$T/authorized_keys"
	# The provider's policy (omerta-provide): roomy, and this suite's own directories.
	cat >"$T/provider.conf" <<-CONF
	slots = 4
	queue = 8
	max_cpu = 4
	max_memory = 4096
	max_disk = 65536
	max_input = 4G
	max_output = 4G
	allow_root = yes
	run_dir = $OMERTA_RUN_DIR
	cache_dir = $OMERTA_CACHE_DIR
	disk_dir = $OMERTA_DISK_DIR
	image_dir = $OMERTA_IMAGE_DIR
	audit_log = $T/jobs.jsonl
	${PROVIDER_CONF_EXTRA:-}
	CONF
	cat >"$T/sshd_config" <<-CONF
	ListenAddress 192.0.2.2
	Port 2222
	HostKey $T/host_key
	AuthorizedKeysFile $T/authorized_keys
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	PidFile none
	SetEnv PATH=${1:+$1:}$OM_SBIN:$OM_BIN:/usr/sbin:/usr/bin:/sbin:/bin OMERTA_RUN_DIR=$OMERTA_RUN_DIR OMERTA_CACHE_DIR=$OMERTA_CACHE_DIR OMERTA_DISK_DIR=$OMERTA_DISK_DIR OMERTA_IMAGE_DIR=$OMERTA_IMAGE_DIR OMERTA_PROVIDER_CONF=$T/provider.conf
	CONF
	cat >"$T/ssh_config" <<-CONF
	Host 192.0.2.2
	  IdentityFile $T/client_key
	  IdentitiesOnly yes
	  UserKnownHostsFile $T/known_hosts
	  StrictHostKeyChecking accept-new
	CONF
	# In the provider's namespace with the host's cgroups (omerta-provide's jobs);
	# $! is sshd itself.
	sh "$OM_ROOT/tests/lib/netns-cgroups.sh" "$PROV" /usr/sbin/sshd -D -f "$T/sshd_config" -E "$T/sshd.log" &
	sshpid=$!
	for _ in $(seq 50); do ip netns exec "$REQ" nc -z -w 1 192.0.2.2 2222 2>/dev/null && break; sleep 0.1; done
}

sshd_down() {
	[ -z "${sshpid:-}" ] || { kill "$sshpid" 2>/dev/null; wait "$sshpid" 2>/dev/null || true; }
	sshpid=''
}
