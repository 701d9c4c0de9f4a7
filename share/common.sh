# Shared by the omerta workflows (POSIX sh). Sourced, never run; the workflow
# defines om_die before using these.
# shellcheck shell=sh disable=SC2034

# The tools next to the workflow come first: a checkout's bin/, or an installed
# PREFIX/bin and PREFIX/sbin (the root-only tools are in sbin, the rest in bin, and a
# workflow in either calls both), so that a job never runs another install's tools.
om_here=$(cd "$(dirname "$0")" && pwd -P)
om_prefix=$(cd "$om_here/.." && pwd)
PATH="$om_here:$om_prefix/sbin:$om_prefix/bin:$PATH"
export PATH

om_run_dir() { printf '%s\n' "${OMERTA_RUN_DIR:-/run/omerta}"; }

# om_uint NAME VALUE MIN MAX: VALUE is a decimal number in [MIN, MAX], or die.
om_uint() {
	case $2 in
	'' | *[!0-9]* | 0?*) om_die "$1 must be a number from $3 to $4, not '$2'" ;;
	esac
	[ "${#2}" -le 13 ] || om_die "$1 must be a number from $3 to $4"
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

# om_kernel: the guest kernel a job boots, from the one rule that omerta-mkinitrd
# --which-kernel applies ($OMERTA_KERNEL, else omerta's own from make kernel, else
# Debian's newest /boot/vmlinuz-*); om_kernel_why: why, in words. Empty when none.
om_kernel_line() { omerta-mkinitrd --which-kernel 2>/dev/null || true; }
om_kernel() { om_kernel_line | sed 's/\t.*//'; }

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

# om_size NAME VALUE MAX_BYTES: VALUE (bytes, or with a K, M or G suffix: KiB, MiB,
# GiB) in om_bytes, from 1 to MAX_BYTES, or die.
om_size() {
	om_n=${2%[KkMmGg]} om_mul=1
	case $2 in
	*[Kk]) om_mul=1024 ;;
	*[Mm]) om_mul=1048576 ;;
	*[Gg]) om_mul=1073741824 ;;
	esac
	case $om_n in '' | *[!0-9]* | 0?*) om_die "$1 must be a size (bytes, or 512M, 2G), not '$2'" ;; esac
	[ "${#om_n}" -le 13 ] || om_die "$1: at most $3 bytes"
	om_bytes=$((om_n * om_mul))
	if [ "$om_bytes" -lt 1 ] || [ "$om_bytes" -gt "$3" ]; then om_die "$1: from 1 byte to $3 bytes, not '$2'"; fi
}

# om_input_ok SPEC: an --input PATH[:GUESTPATH], as om_in_src (here) and om_in_dst
# (below /home/job in the guest; PATH's own name by default), or die. A SPEC that
# names a file as a whole is a PATH, even with a ':' in it.
om_input_ok() {
	om_in_src=$1 om_in_dst=
	if [ ! -e "$1" ]; then
		case $1 in *:*) om_in_src=${1%:*} om_in_dst=${1##*:} ;; esac
	fi
	[ -e "$om_in_src" ] || om_die "--input $1: no such file or directory"
	[ -f "$om_in_src" ] || [ -d "$om_in_src" ] || om_die "--input $1: not a file or a directory"
	[ -r "$om_in_src" ] || om_die "--input $1: cannot read it"
	[ -n "$om_in_dst" ] || om_in_dst=$(basename -- "$om_in_src")
	case $om_in_dst in /home/job/?*) om_in_dst=${om_in_dst#/home/job/} ;; esac
	while :; do case $om_in_dst in */) om_in_dst=${om_in_dst%/} ;; *) break ;; esac; done
	case $om_in_dst in
	'' | /* | . | .. | ./* | ../* | */. | */.. | *'/./'* | *'/../'* | *//*)
		om_die "--input $1: the guest path must be relative to /home/job, without '.' or '..' (give PATH:GUESTPATH)" ;;
	out | out/*) om_die "--input $1: out is the job's output directory" ;;
	esac
	case $om_in_dst in *[[:cntrl:]]*) om_die "--input $1: a control character in the guest path" ;; esac
	[ "${#om_in_dst}" -le 1024 ] || om_die "--input $1: the guest path is longer than 1024 bytes"
}

# om_input_disk IMG STAGE QUOTED: the job's input disk, an ext4 image at IMG of the
# --input SPECs in QUOTED (om_quote's words), each at its guest path; the guest
# mounts it as /home/job. STAGE, a directory made here and removed, holds the tree
# for mkfs.ext4 -d: hard links to the inputs where the file system allows, so that
# the bytes are copied once, into the image; else copies. The image is sparse, with
# room for the job's own files (a quarter more, and 256 MiB). Run in a subshell.
om_input_disk() {
	om_img=$1 om_stage=$2
	eval "set -- $3"
	PATH=$PATH:/sbin:/usr/sbin
	command -v mkfs.ext4 >/dev/null || om_die "mkfs.ext4 is missing (apt-get install e2fsprogs)"
	mkdir -m 0700 "$om_stage" || om_die "cannot make $om_stage"
	for om_s; do
		om_input_ok "$om_s"
		om_d=$om_stage/$om_in_dst
		if [ -e "$om_d" ] || [ -L "$om_d" ]; then om_die "--input $om_s: $om_in_dst is given twice"; fi
		mkdir -p -- "$(dirname -- "$om_d")" 2>/dev/null || om_die "--input $om_s: $om_in_dst lies inside a file given before"
		# An earlier input may hold a link that this guest path goes through: its
		# folder must still be inside the staging tree, or nothing is copied.
		case $(readlink -f -- "$(dirname -- "$om_d")")/ in
		"$(readlink -f -- "$om_stage")"/*) ;;
		*) om_die "--input $om_s: $om_in_dst goes through a link of an input given before" ;;
		esac
		[ ! -L "$om_d" ] || om_die "--input $om_s: $om_in_dst is given twice"
		om_src=$(readlink -f -- "$om_in_src")
		if ! cp -al -- "$om_src" "$om_d" 2>/dev/null; then
			rm -rf -- "$om_d"
			cp -a --no-preserve=ownership -- "$om_src" "$om_d" || om_die "--input $om_s: cannot copy it"
		fi
	done
	om_b=$(du -s -B1 --apparent-size -- "$om_stage" | cut -f1)
	om_f=$(find "$om_stage" | wc -l)
	om_mib=$(((om_b + om_f * 4096) * 5 / 4 / 1048576 + 256))
	truncate -s "${om_mib}M" "$om_img" || om_die "cannot make the input disk"
	om_err=$(mkfs.ext4 -q -F -O ^has_journal -m 0 -N $((om_f + 4096)) \
		-E nodiscard,lazy_itable_init=1,root_owner=1000:1000 -d "$om_stage" "$om_img" 2>&1) ||
		om_die "the input disk: $(printf '%s' "$om_err" | head -n 1)"
	rm -rf -- "$om_stage"
}

# om_output_disk IMG MAX_BYTES MAX_FILES: the job's output disk, a sparse ext2 image
# (block maps, no journal: what omerta-files pack reads) with room for MAX_BYTES in
# MAX_FILES files and 64 MiB of its own.
om_output_disk() {
	PATH=$PATH:/sbin:/usr/sbin
	truncate -s $(($2 + $3 * 1024 + 67108864)) "$1" || om_die "cannot make the output disk"
	om_err=$(mkfs.ext4 -q -F -O none,filetype,sparse_super,large_file,uninit_bg -I 256 -N $(($3 + 16)) \
		-m 0 -b 4096 -E nodiscard,lazy_itable_init=1,root_owner=1000:1000 "$1" 2>&1) ||
		om_die "the output disk: $(printf '%s' "$om_err" | head -n 1)"
}

# The default image: what `make images` builds, and what the first job that asks for
# debian-python builds (about 30 s, from this machine's Debian mirror).
om_default_image() {
	omerta-mkimage --debian bookworm --packages python3,python3-pip,curl,ca-certificates --name debian-python >/dev/null
}

# om_image_resolve NAME|FILE [name]: image_path, or die. A FILE is what names an
# existing file or holds a '/'; a NAME is $OMERTA_IMAGE_DIR/NAME.img (default
# /var/lib/omerta/images), and debian-python is built there the first time. With
# "name" (--bundle: a requester's word) only the catalogue is looked in, never a
# file of that name in the working directory.
om_image_resolve() {
	case $1 in
	*/*) image_path=$1 ;;
	*)
		if [ "${2:-}" != name ] && [ -f "$1" ]; then
			image_path=$1
		else
			case $1 in '' | [.-]* | *[!a-z0-9._-]*)
				om_die "--image $1: no such file, and not an image name (a-z, 0-9, '.', '_', '-')" ;;
			esac
			image_path=${OMERTA_IMAGE_DIR:-/var/lib/omerta/images}/$1.img
			if [ ! -e "$image_path" ] && [ "$1" = debian-python ]; then
				printf 'omerta: building the default image, debian-python (once)\n' >&2
				om_default_image || om_die "--image debian-python: the build failed"
			fi
			[ -e "$image_path" ] || om_die "--image $1: no such image in ${OMERTA_IMAGE_DIR:-/var/lib/omerta/images} (omerta-mkimage list)"
		fi
		;;
	esac
	[ -f "$image_path" ] || om_die "--image $1: no such file"
}

# om_scratch_disk IMG MIB: the job's scratch disk (--disk), a sparse ext4 of MIB with
# no journal, its root the job's; the guest puts the work directory and an image's
# overlay on it.
om_scratch_disk() {
	PATH=$PATH:/sbin:/usr/sbin
	truncate -s "$2M" "$1" || om_die "cannot make the scratch disk"
	om_err=$(mkfs.ext4 -q -F -O ^has_journal -m 0 -E nodiscard,lazy_itable_init=1,root_owner=1000:1000 "$1" 2>&1) ||
		om_die "the scratch disk: $(printf '%s' "$om_err" | head -n 1)"
}
