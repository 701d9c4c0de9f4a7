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

# om_default_sigint "$@": a job must stop on SIGINT, also when a script started it in
# the background (a non-interactive sh starts those with SIGINT ignored, and a
# signal ignored on entry cannot be trapped): start again with SIGINT restored.
# SIGHUP is left as it is: nohup ignores it on purpose.
om_default_sigint() {
	om_ign=$(awk '/^SigIgn:/ { print $2 }' "/proc/$$/status" 2>/dev/null || true)
	om_ign=${om_ign:-0}
	if [ $((0x${om_ign#"${om_ign%?}"} & 2)) -ne 0 ] && [ -z "${OMERTA_SIGINT_RESET:-}" ]; then
		OMERTA_SIGINT_RESET=1 exec env --default-signal=INT "$0" "$@"
	fi
	unset OMERTA_SIGINT_RESET
}

# om_env_ok NAME=VALUE: an --env entry whose NAME omerta-mkinitrd takes (letters,
# digits and _, not first a digit, at most 128 bytes, not OMERTA_*); or die, with
# mkinitrd's words.
om_env_ok() {
	case $1 in
	*=*) ;;
	*) om_die "--env wants NAME=VALUE, NAME of letters, digits and _ (not first a digit), at most 128 bytes" ;;
	esac
	case ${1%%=*} in
	'' | [0-9]* | *[!A-Za-z0-9_]*)
		om_die "--env wants NAME=VALUE, NAME of letters, digits and _ (not first a digit), at most 128 bytes" ;;
	OMERTA_*) om_die "--env ${1%%=*}: the OMERTA_ names are omerta's own" ;;
	esac
	[ "${#1}" -le 70000 ] || om_die "--env: at most 256 entries and 65536 bytes together"
}

# om_quote VALUE: VALUE as one single-quoted shell word, for eval (any bytes but NUL,
# a trailing newline included).
om_quote() {
	om_q=$(printf '%sx' "$1" | sed "s/'/'\\\\''/g")
	printf "'%s'" "${om_q%x}"
}

# om_env_file QUOTED FILE: the words of QUOTED (om_quote's) into FILE, each ending
# in a NUL: omerta-mkinitrd --env-file's format. Run in a subshell: it sets "$@".
om_env_file() {
	om_f=$2
	eval "set -- $1"
	for om_e; do printf '%s\0' "$om_e"; done >"$om_f"
}
