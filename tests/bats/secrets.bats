#!/usr/bin/env bats
# Issue 15, the provider's side: one job's secrets are not another's. While a job
# runs, no process of another uid (nobody, another job's QEMU uid), nor of QEMU's
# own, reads its WireGuard key or guest memory through /proc or the run directory;
# each job's QEMU runs as a uid and gid of its own from the range; no descriptor of
# the image stays open and the image is gone once the guest runs; QEMU still dies
# with vmboot; and run and cache directories that someone else could write are
# refused before anything is made.

load ../lib/common

setup_file() {
	world_up sec
	# The run directory where any uid can reach it (/tmp and this folder are
	# traversable): only the job's own folders and files may keep a reader out.
	SEC_ROOT=$(mktemp -d /tmp/omt-secrets.XXXXXX)
	chmod 0755 "$SEC_ROOT"
	export SEC_ROOT
}

teardown_file() {
	world_down
	rm -rf "$SEC_ROOT"
}

setup() {
	# common.bash sets it again for every test.
	export OMERTA_RUN_DIR=$SEC_ROOT/run
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
	chmod 0755 "$T"
}

teardown() {
	[ -z "${bgpid:-}" ] || { kill "$bgpid" 2>/dev/null; wait "$bgpid" 2>/dev/null || true; }
	[ -z "${holder:-}" ] || { kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; }
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

# as UID CMD...: CMD as UID and gid UID, with no other group.
as() {
	local u=$1
	shift
	setpriv --reuid "$u" --regid "$u" --clear-groups "$@"
}

# A reader of another uid: opens PATH and reads from it; for mem, a mapping that
# maps says is readable. Prints what it read and exits 0 only when it read
# something.
READER='
import os, sys
p = sys.argv[1]
try:
    fd = os.open(p, os.O_RDONLY)
    if p.endswith("/mem"):
        pid = p.split("/")[2]
        data = b""
        for line in open("/proc/%s/maps" % pid):
            lo, hi = [int(x, 16) for x in line.split()[0].split("-")]
            if line.split()[1].startswith("r"):
                data = os.pread(fd, min(4096, hi - lo), lo)
                if data:
                    break
    else:
        data = os.read(fd, 1 << 20)
except OSError as e:
    print("refused: %s" % e)
    sys.exit(1)
sys.stdout.buffer.write(data)
sys.exit(0 if data else 1)
'

# The job's QEMU: its PID and uid from the started event the watcher recorded.
qemu_of() {
	local ev=$OMERTA_RUN_DIR/exec/$1/events
	for _ in $(seq 100); do grep -q '"event":"started"' "$ev" 2>/dev/null && break; sleep 0.1; done
	q=$(jq -r 'select(.event=="started") | .pid' "$ev")
	[ -n "$q" ]
	[ -d "/proc/$q" ]
	# Its uid as the kernel has it, once QEMU has dropped to it.
	for _ in $(seq 100); do
		quid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$q/status")
		[ "$quid" = 0 ] || break
		sleep 0.05
	done
	[ "$quid" != 0 ]
}

@test "secrets: while a job runs, nobody, another job's uid and QEMU's own cannot read its key or memory through /proc or the run directory" {
	vpn k1
	key=$(sed -n 's/^PrivateKey *= *//p' "$T/k1.conf")
	[ -n "$key" ]
	ip netns exec "$PROV" omerta execute --job-id k1 --vpn-config "$T/k1.conf" --timeout 120 \
		--script 'echo started; sleep 60' >"$T/out" 2>"$T/err" &
	bgpid=$!
	for _ in $(seq 600); do grep -q started "$T/out" && break; sleep 0.1; done
	grep -q started "$T/out"
	qemu_of k1
	dir=$OMERTA_RUN_DIR/exec/k1
	other=$((quid == 61999 ? 61998 : quid + 1))
	for u in 65534 "$other" "$quid"; do
		for f in "/proc/$q/fd/"* "/proc/$q/mem" "/proc/$q/environ" "/proc/$q/maps"; do
			run as "$u" /usr/bin/python3 -c "$READER" "$f"
			echo "uid $u read $f: status $status"
			[ "$status" -ne 0 ]
			[[ $output != *"$key"* ]]
		done
		run as "$u" ls "/proc/$q/fd"
		[ "$status" -ne 0 ]
		# The run directory: the job's folder is root's, 0700.
		run as "$u" grep -r -l -s -F -- "$key" "$OMERTA_RUN_DIR"
		[[ $output != *"$dir"* ]]
		[[ $output != *"$key"* ]]
		run as "$u" cat "$dir/vpn.conf"
		[ "$status" -ne 0 ]
	done
	# Not even QEMU's own uid can attach to it with ptrace.
	run as "$quid" /usr/bin/python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, int(sys.argv[1]), None, None)  # PTRACE_ATTACH
print(r, ctypes.get_errno())
sys.exit(0 if r == 0 else 1)' "$q"
	echo "ptrace: $output"
	[ "$status" -ne 0 ]
	# QEMU runs as its job's uid and gid, from the range, as the started event says.
	[ "$quid" -ge 61000 ]
	[ "$quid" -le 61999 ]
	[ "$(jq -r 'select(.event=="started") | .uid' "$dir/events")" = "$quid" ]
	grep -E "^Uid:\s+$quid\s+$quid\s+$quid\s+$quid$" "/proc/$q/status"
	grep -E "^Gid:\s+$quid\s+$quid\s+$quid\s+$quid$" "/proc/$q/status"
	# Not dumpable: the kernel makes a non-dumpable process's /proc files root's.
	[ "$(stat -c %u "/proc/$q/fd")" = 0 ]
	[ "$(stat -c %u "/proc/$q/mem")" = 0 ]
	# The folder and its files: root's, and nobody else's to read.
	[ "$(stat -c '%u %a' "$dir")" = "0 700" ]
	[ "$(stat -c '%u %a' "$dir/vpn.conf")" = "0 600" ]
	# The image (it holds the key) is gone, and no process holds it open.
	[ ! -e "$dir/image" ]
	run sh -c "ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -F -- '$dir/image'"
	[ -z "$output" ]
	# QEMU's descriptors: the tap, its channels, /dev/null and stderr; no file of
	# the run directory.
	ls -l "/proc/$q/fd/"
	run sh -c "ls -l /proc/$q/fd/ | grep -F -- '$OMERTA_RUN_DIR'"
	[ -z "$output" ]
	kill "$bgpid"
	wait "$bgpid" || true
	bgpid=
}

@test "secrets: two jobs' QEMUs run as two uids of the range, one after the other and side by side" {
	vpn u1
	ip netns exec "$PROV" omerta execute --json --vpn-config "$T/u1.conf" --script true >"$T/u1.json"
	vpn u2
	ip netns exec "$PROV" omerta execute --json --vpn-config "$T/u2.conf" --script true >"$T/u2.json"
	a=$(jq -r 'select(.event=="started") | .uid' "$T/u1.json")
	b=$(jq -r 'select(.event=="started") | .uid' "$T/u2.json")
	echo "uids $a $b"
	[ "$a" -ge 61000 ]
	[ "$a" -le 61999 ]
	[ "$b" -ge 61000 ]
	[ "$b" -le 61999 ]
	[ "$a" != "$b" ]
	[ "$(jq -r 'select(.event=="result") | .status' "$T/u2.json")" = completed ]
	# Side by side, in a range of two: each takes one (a guest without a network
	# fails its eth0 step after about 2 s, so both run at once).
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/u2.conf" --script 'sleep 30' -o "$T/img"
	for i in 1 2; do
		omerta-vmboot --kernel "$KERNEL" --initrd "$T/img" --no-network --user-range 61500-61501 \
			--timeout 20 --events-fd 3 3>"$T/p$i.ev" &
		eval "p$i=\$!"
	done
	for _ in $(seq 100); do grep -q started "$T/p1.ev" && grep -q started "$T/p2.ev" && break; sleep 0.1; done
	a=$(jq -r 'select(.event=="started") | .uid' "$T/p1.ev")
	b=$(jq -r 'select(.event=="started") | .uid' "$T/p2.ev")
	echo "side by side: $a $b"
	[ "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ')" = "61500 61501 " ]
	wait "$p1" || true
	wait "$p2" || true
}

@test "secrets: a uid that an account, a group, a process or another vmboot holds is never taken" {
	vpn h1
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/h1.conf" --script true -o "$T/img"
	boot() { omerta-vmboot --kernel "$KERNEL" --initrd "$T/img" --no-network --timeout 5 --json "$@"; }
	# nobody's account, and the gid of a group that no account has as its uid.
	g=$(getent group | awk -F: '$3 >= 1 && $3 < 60000 { print $3 }' | while read -r x; do
		getent passwd "$x" >/dev/null || { echo "$x"; break; }
	done)
	echo "a group's gid: ${g:-none}"
	for r in 65534-65534 ${g:+$g-$g}; do
		run --separate-stderr boot --user-range "$r"
		echo "$r: $status $stderr"
		[ "$status" -eq 3 ]
		[[ $stderr == *"no free uid in $r"* ]]
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	done
	# A process of that uid, with no account.
	setpriv --reuid 61700 --regid 61700 --clear-groups sleep 30 &
	holder=$!
	for _ in $(seq 50); do grep -qE '^Uid:\s+61700\s' "/proc/$holder/status" 2>/dev/null && break; sleep 0.1; done
	grep -qE '^Uid:\s+61700\s' "/proc/$holder/status"
	run boot --user-range 61700-61700
	[ "$status" -eq 3 ]
	run boot --user-range 61700-61701
	[ "$(jq -r 'select(.event=="started") | .uid' <<<"$output")" = 61701 ]
	kill "$holder"
	wait "$holder" || true
	holder=
	# Another vmboot's: its lock, on byte UID of the uid folder's lock file.
	python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.fcntl(fd, 37, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 61800, 1, 0))  # F_OFD_SETLK
open(sys.argv[2], "w").close()
time.sleep(60)' "$OMERTA_RUN_DIR/uid/.lock" "$T/locked" &
	holder=$!
	for _ in $(seq 50); do [ -e "$T/locked" ] && break; sleep 0.1; done
	run boot --user-range 61800-61801
	[ "$(jq -r 'select(.event=="started") | .uid' <<<"$output")" = 61801 ]
	run boot --user-range 61800-61800
	[ "$status" -eq 3 ]
	# Released with its holder: a killed holder leaks nothing.
	kill -9 "$holder"
	wait "$holder" || true
	holder=
	run boot --user-range 61800-61800
	[ "$(jq -r 'select(.event=="started") | .uid' <<<"$output")" = 61800 ]
	# Bad ranges are bad input, and --user 0 stays refused.
	for r in 0-5 7-3 1-70000 abc 5; do
		run boot --user-range "$r"
		[ "$status" -eq 1 ]
	done
	run boot --user 0
	[ "$status" -eq 1 ]
}

@test "secrets: kill -9 of vmboot after QEMU changed its uid still kills QEMU (the guard)" {
	vpn g1
	ip netns exec "$PROV" omerta-mkinitrd --vpn-config "$T/g1.conf" --script 'sleep 60' -o "$T/img"
	omerta-vmboot --kernel "$KERNEL" --initrd "$T/img" --no-network --timeout 30 --events-fd 3 3>"$T/ev" &
	v=$!
	for _ in $(seq 100); do grep -q started "$T/ev" 2>/dev/null && break; sleep 0.05; done
	q=$(jq -r 'select(.event=="started") | .pid' "$T/ev")
	u=$(jq -r 'select(.event=="started") | .uid' "$T/ev")
	# Wait for the change of uid, which clears QEMU's own death signal.
	for _ in $(seq 100); do grep -qE "^Uid:\s+$u\s" "/proc/$q/status" && break; sleep 0.02; done
	grep -qE "^Uid:\s+$u\s" "/proc/$q/status"
	kill -9 "$v"
	wait "$v" || true
	# Well before the guest, which has no network, would fail on its own (~2 s).
	for _ in $(seq 20); do [ -z "$(ps -o stat= -p "$q" | grep -v Z)" ] && break; sleep 0.02; done
	[ -z "$(ps -o stat= -p "$q" | grep -v Z)" ]
}

# refused NAME: omerta execute refuses with one line naming NAME, 125, and leaves
# no job anywhere.
refused() {
	run --separate-stderr ip netns exec "$PROV" omerta execute --job-id r1 --vpn-config "$T/empty.conf" --script true
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 125 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ $stderr == "omerta execute: $1: "* ]]
	[ -z "$(find "$SEC_ROOT" -name r1)" ]
	[ -z "$(find "$SEC_ROOT" -name vpn.conf)" ]
}

@test "secrets: a planted link, a foreign owner or group/other write on OMERTA_RUN_DIR or OMERTA_CACHE_DIR is refused, 125, nothing left" {
	: >"$T/empty.conf"
	real=$OMERTA_RUN_DIR
	mkdir -p "$SEC_ROOT/elsewhere"
	# OMERTA_RUN_DIR a link, its exec folder a link, a foreign owner, world-writable.
	OMERTA_RUN_DIR=$SEC_ROOT/link
	ln -s "$SEC_ROOT/elsewhere" "$OMERTA_RUN_DIR"
	refused OMERTA_RUN_DIR
	[ -z "$(ls -A "$SEC_ROOT/elsewhere")" ]
	rm "$OMERTA_RUN_DIR"
	OMERTA_RUN_DIR=$real
	mkdir -p "$OMERTA_RUN_DIR"
	rm -rf "$OMERTA_RUN_DIR/exec"
	ln -s "$SEC_ROOT/elsewhere" "$OMERTA_RUN_DIR/exec"
	refused OMERTA_RUN_DIR
	[ -z "$(ls -A "$SEC_ROOT/elsewhere")" ]
	rm "$OMERTA_RUN_DIR/exec"
	chown 65534 "$OMERTA_RUN_DIR"
	refused OMERTA_RUN_DIR
	chown 0 "$OMERTA_RUN_DIR"
	for m in 0777 1777 0775; do
		chmod "$m" "$OMERTA_RUN_DIR"
		refused OMERTA_RUN_DIR
	done
	chmod 0755 "$OMERTA_RUN_DIR"
	mkdir -m 0700 "$OMERTA_RUN_DIR/exec"
	chmod 0777 "$OMERTA_RUN_DIR/exec"
	refused OMERTA_RUN_DIR
	rmdir "$OMERTA_RUN_DIR/exec"
	# The cache: the same three.
	cache=$OMERTA_CACHE_DIR
	export OMERTA_CACHE_DIR=$SEC_ROOT/cache
	ln -s "$SEC_ROOT/elsewhere" "$OMERTA_CACHE_DIR"
	refused OMERTA_CACHE_DIR
	rm "$OMERTA_CACHE_DIR"
	mkdir "$OMERTA_CACHE_DIR"
	chown 65534 "$OMERTA_CACHE_DIR"
	refused OMERTA_CACHE_DIR
	chown 0 "$OMERTA_CACHE_DIR"
	chmod 0777 "$OMERTA_CACHE_DIR"
	refused OMERTA_CACHE_DIR
	rmdir "$OMERTA_CACHE_DIR"
	[ -z "$(ls -A "$SEC_ROOT/elsewhere")" ]
	export OMERTA_CACHE_DIR=$cache
	# The C tools check their own folders too: vmboot's uid folder, planted.
	rm -rf "$OMERTA_RUN_DIR/uid"
	ln -s "$SEC_ROOT/elsewhere" "$OMERTA_RUN_DIR/uid"
	run --separate-stderr omerta-vmboot --kernel "$KERNEL" --initrd "$T/empty.conf" --no-network
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 3 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ $stderr == *"$OMERTA_RUN_DIR/uid: not a directory"* ]]
	rm "$OMERTA_RUN_DIR/uid"
	[ -z "$(ls -A "$SEC_ROOT/elsewhere")" ]
}
