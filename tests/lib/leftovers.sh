#!/bin/sh
# om_leftovers: one line for each thing omerta or a test world left behind, or
# nothing. Sourced by common.bash and by sweep.sh; sh and bash alike.
#
# Everything omerta creates is named after the job with these prefixes. The suites
# name their own test hosts "omt-*".
om_leftovers() {
	# The test world of a suite (omt-$TAG-*) lives for the whole file.
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(omerta-|omt-)' |
		{ if [ -n "${TAG:-}" ]; then grep -v "^omt-$TAG-" || true; else cat; fi } | sed 's/^/netns /'
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(om|omt)[-_a-z0-9]' | sed 's/^/link /'
	nft list tables 2>/dev/null | grep -E 'omerta' | sed 's/^/nft /'
	for p in $(pgrep -x wireguard-go 2>/dev/null) $(pgrep -x qemu-system-x86 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -E 'om|omt' | sed "s/^/process $p /"
	done
	# The suites' and benches' own sshd (a provider's): one whose config is in a
	# bats run folder or a bench's; the current suite's own may run until its end.
	for p in $(pgrep -x sshd 2>/dev/null); do
		_c=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		case $_c in *" -f "*bats-run-* | *" -f "*omt-bench*) ;; *) continue ;; esac
		if [ -n "${TAG:-}" ] && [ -n "${BATS_FILE_TMPDIR:-}" ]; then
			case $_c in *"$BATS_FILE_TMPDIR"*) continue ;; esac
		fi
		echo "process $p $_c"
	done
	for _s in /var/run/wireguard/om*; do
		[ ! -e "$_s" ] || echo "wireguard-go socket ${_s##*/}"
	done
	# A provider's job cgroups (omerta-provide): .../omerta/JOB in any hierarchy.
	find /sys/fs/cgroup -mindepth 2 -type d -path '*/omerta/*' 2>/dev/null | sed 's/^/cgroup /'
	_st=''
	# Per-tool folders ($OMERTA_RUN_DIR/vpn, /jail, ...) may stay, with their lock;
	# nothing else may.
	[ -z "${OMERTA_RUN_DIR:-}" ] || _st=$(cd "$OMERTA_RUN_DIR" 2>/dev/null && find . -mindepth 1 ! -path './*/.lock' \
		! \( -type d ! -path './*/*' \) | tr '\n' ' ')
	[ -z "$_st" ] || echo "state $_st"
	# The jobs' disks (--input, --output), where a suite names the folder.
	_st=''
	[ -z "${OMERTA_DISK_DIR:-}" ] || _st=$(find "$OMERTA_DISK_DIR" -mindepth 1 -maxdepth 1 2>/dev/null | tr '\n' ' ')
	[ -z "$_st" ] || echo "disks $_st"
	return 0
}
