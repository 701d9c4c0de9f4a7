#!/usr/bin/env bats
# Issue 19: omerta's own guest kernel (make kernel). make check-kernel runs this with
# OMERTA_KERNEL set to the kernel it just built, after the VM suites with it.

load ../lib/common

setup_file() {
	case ${OMERTA_KERNEL:-} in
	*/vmlinuz-*-omerta-*) ;;
	*) echo "OMERTA_KERNEL must name a kernel from make kernel (make check-kernel sets it)" >&2; return 1 ;;
	esac
	world_up kn
}
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

own_version() { basename "$OMERTA_KERNEL" | sed 's/^vmlinuz-//'; }

@test "kernel: built as the fragment says: every option took, no modules, no ACPI, no PCI; make kernel again is a lookup" {
	cfg=${OMERTA_KERNEL%/*}/config-$(own_version)
	[ -f "$cfg" ]
	while IFS= read -r l; do
		grep -qxF "$l" "$cfg" || { echo "missing: $l"; return 1; }
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$OM_ROOT/share/kernel/guest.config")
	for o in MODULES ACPI PCI USB SOUND DRM; do
		run grep -E "^CONFIG_$o=" "$cfg"
		[ "$status" -eq 1 ]
	done
	# The same inputs: the same file, found, not built.
	run --separate-stderr env OMERTA_CACHE_DIR="${OMERTA_KERNEL%/kernel/*}" sh "$OM_ROOT/share/mkkernel.sh"
	[ "$status" -eq 0 ]
	[ "$output" = "$OMERTA_KERNEL" ]
	grep -q 'built already' <<<"$stderr"
}

@test "kernel: with omerta's own in the cache, a job boots it by itself (no OMERTA_KERNEL), and omerta status names it and why" {
	local c=$OMERTA_CACHE_DIR v
	v=$(own_version)
	mkdir -p "$c/kernel"
	cp "$OMERTA_KERNEL" "$c/kernel/"
	cp "${OMERTA_KERNEL%/*}/config-$v" "$c/kernel/"
	ip netns exec "$REQ" omerta-vpnserve up --job k1 --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/k1.conf"
	run --separate-stderr ip netns exec "$PROV" env -u OMERTA_KERNEL omerta execute --vpn-config "$T/k1.conf" --script 'uname -r'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$v" ]
	run env -u OMERTA_KERNEL omerta status
	grep -qxF "$(printf 'kernel\tok\t%s/kernel/vmlinuz-%s (omerta'"'"'s own, built by make kernel; no modules)\t-' "$c" "$v")" <<<"$output"
	rm -rf "$c/kernel"
}

@test "kernel: the guest's RNG is ready before /init runs (RDRAND trusted) and the boot-time options took" {
	ip netns exec "$REQ" omerta-vpnserve up --job k2 --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/k2.conf"
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/k2.conf" --root \
		--script 'cat /proc/cmdline; uname -r; dmesg'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'no_timer_check noapictimer reboot=t' <<<"${lines[0]}"
	[ "${lines[1]}" = "$(own_version)" ]
	# Without CONFIG_RANDOM_TRUST_CPU the crng is ready only after seconds of timer
	# jitter, long after the kernel starts /init (and the handshake waits for it).
	crng=$(grep -n 'random: crng init done' <<<"$output" | head -n 1 | cut -d: -f1)
	init=$(grep -n 'Run /init as init process' <<<"$output" | head -n 1 | cut -d: -f1)
	echo "crng init done: line $crng; /init: line $init"
	[ -n "$crng" ]
	[ -n "$init" ]
	[ "$crng" -lt "$init" ]
}

@test "kernel: four jobs in a row on one config each reach vpn_up without waiting for a handshake retry" {
	ip netns exec "$REQ" omerta-vpnserve up --job k3 --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/k3.conf"
	# Each boots in about half a second: two within one second of the RTC sent the
	# same TAI64N timestamp and the server dropped the second as a replay, 5 s lost.
	for i in 1 2 3 4; do
		ip netns exec "$PROV" omerta execute --vpn-config "$T/k3.conf" --script true --json >"$T/k3-$i.json"
		v=$(jq -r 'select(.event=="result").timings_ms.boot_to_vpn_up' "$T/k3-$i.json")
		echo "job $i: boot_to_vpn_up $v ms"
		[ "$v" -lt 4000 ]
	done
}

# wrong_base BUILT_FOR BOOTED NAME PATTERN: a job's image built for one kernel and
# booted on the other powers off before any channel is up, its reason (PATTERN) on
# the console, and the workload never runs.
wrong_base() {
	omerta-mkinitrd --kernel "$1" --vpn-config "$T/k5.conf" --script 'echo R""AN' -o "$T/$3.img"
	# vmboot reads the base's stamp and refuses the pair, naming both, before QEMU.
	run --separate-stderr omerta-vmboot --kernel "$2" --initrd "$T/$3.img" --no-network --timeout 60 --json
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *": built for kernel $(own_release "$1"), not $(own_release "$2") ($2); "* ]]
	[ -z "$output" ]
	# The guest's own check, with the stamp out of vmboot's sight (an empty archive
	# first, which the kernel skips): it powers off before any channel.
	cpio -o -H newc --quiet </dev/null >"$T/$3.hidden"
	cat "$T/$3.img" >>"$T/$3.hidden"
	run --separate-stderr omerta-vmboot --kernel "$2" --initrd "$T/$3.hidden" --no-network --timeout 60 --console "$T/$3.console" --json
	echo "$output"; cat "$T/$3.console"
	[ "$status" -eq 123 ]
	[ "$(jq -r 'select(.event=="exited").status' <<<"$output")" = no_report ]
	grep -q "$4" "$T/$3.console"
	# With --json the workload's stdout would be output records here.
	run grep -c RAN <<<"$output"
	[ "$output" = 0 ]
}

# The release a kernel file is named for (both kernels here are named vmlinuz-RELEASE).
own_release() { basename "$1" | sed 's/^vmlinuz-//'; }

@test "kernel: a base goes with its kernel: vmboot refuses one built for the other kernel by name; past that, the guest powers off before any channel (no_report); the workload never runs" {
	local deb
	deb=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
	ip netns exec "$REQ" omerta-vpnserve up --job k5 --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/k5.conf"
	# The own kernel's base (no modules) on Debian's: no virtio_console, no channel.
	wrong_base "$OMERTA_KERNEL" "$deb" own-on-deb 'channels: no_omerta.ctl_port'
	# Debian's base (its modules) on the own kernel: it cannot load a module at all.
	wrong_base "$deb" "$OMERTA_KERNEL" deb-on-own 'modules: insmod_.*Function not implemented'
}

@test "kernel: the same inputs give the same bytes: those recorded for its key in tests/kernel/builds, else a rebuild from scratch in another folder" {
	local key rec c
	key=${OMERTA_KERNEL##*-omerta-}
	# Recorded: this build, on this machine, against one on another machine and day
	# (a stronger check than two folders here, and five minutes less of CI).
	rec=$(awk -v k="$key" '!/^#/ && $1 == k { print $2, $3 }' "$BATS_TEST_DIRNAME/builds")
	if [ -n "$rec" ]; then
		[ "$(sha256sum <"$OMERTA_KERNEL" | cut -d' ' -f1) $(stat -c %s "$OMERTA_KERNEL")" = "$rec" ]
		return
	fi
	c=$BATS_TEST_TMPDIR/rebuild
	mkdir -p "$c"
	run --separate-stderr env OMERTA_CACHE_DIR="$c" sh "$OM_ROOT/share/mkkernel.sh"
	[ "$status" -eq 0 ]
	[ "$output" = "$c/kernel/$(basename "$OMERTA_KERNEL")" ]
	grep -q 'compiling' <<<"$stderr"
	cmp "$output" "$OMERTA_KERNEL"
	[ ! -e "$c/kernel/build" ]
	rm -rf "$c"
	echo "# a new key: add to tests/kernel/builds: $key $(sha256sum <"$OMERTA_KERNEL" | cut -d' ' -f1) $(stat -c %s "$OMERTA_KERNEL") $(dpkg-query -W -f '${Package} ${Version}' linux-source-6.1 2>/dev/null)" >&3
}
