# Shared by the omerta workflows (POSIX sh). Sourced, never run; the workflow
# defines om_die before using these.
# shellcheck shell=sh disable=SC2034

# The tools next to the workflow come first: a checkout or an installed PREFIX/bin.
om_here=$(cd "$(dirname "$0")" && pwd)
PATH="$om_here:$PATH"
export PATH

om_run_dir() { printf '%s\n' "${OMERTA_RUN_DIR:-/run/omerta}"; }

# om_uint NAME VALUE MIN MAX: VALUE is a decimal number in [MIN, MAX], or die.
om_uint() {
	case $2 in
	'' | *[!0-9]* | 0?*) om_die "$1 must be a number from $3 to $4, not '$2'" ;;
	esac
	[ "${#2}" -le 12 ] || om_die "$1 must be a number from $3 to $4"
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		om_die "$1 must be a number from $3 to $4, not '$2'"
	fi
}

om_jobid_ok() {
	case $1 in
	'' | *[!A-Za-z0-9_-]*) return 1 ;;
	esac
	[ "${#1}" -le 32 ]
}

om_new_jobid() {
	printf 'j%s' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
}

om_now_ms() { echo $(($(date +%s%N) / 1000000)); }

om_kernel() {
	if [ -n "${OMERTA_KERNEL:-}" ]; then
		printf '%s\n' "$OMERTA_KERNEL"
	else
		printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1
	fi
}
