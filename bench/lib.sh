# shellcheck shell=sh
# bench/lib.sh: what every bench/NAME.sh [TAG] shares; sourced from the project
# root after `set -eu`.
#
# bench_start NAME PREFIX [TAG]: refuse without root, put bin/ first on PATH, and set
# tag (TAG: bench/run.sh's test world; without it PREFIX$$ and own=1, a world of
# this script's own), req and prov (the world's requester and provider
# namespaces), t (a scratch folder) and OMERTA_RUN_DIR (under $t unless set). From
# then on, however the script ends (an error, INT, TERM), bench_stop runs the
# script's own bench_down (its servers, accounts, files: define it before
# bench_start, with every variable it reads), takes an own world down and
# removes $t.
bench_start() {
	[ "$(id -u)" -eq 0 ] || { echo "$1: needs root (namespaces, VMs)" >&2; exit 1; }
	export PATH="$PWD/bin:$PATH"
	own=
	if [ $# -ge 3 ]; then
		tag=$3
	else
		tag=$2$$ own=1
	fi
	# shellcheck disable=SC2034 # read by the script that sources this
	req=omt-$tag-req prov=omt-$tag-prov
	t=$(mktemp -d)
	: "${OMERTA_RUN_DIR:=$t/run}"
	export OMERTA_RUN_DIR
	mkdir -p "$OMERTA_RUN_DIR"
	chmod 700 "$OMERTA_RUN_DIR"
	trap bench_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bench_stop() {
	bench_down || true
	[ -z "$own" ] || sh tests/lib/world.sh down "$tag"
	rm -rf "$t"
}

# bench_world: bring up the script's own test world (nothing with TAG).
bench_world() {
	[ -z "$own" ] || sh tests/lib/world.sh up "$tag" >/dev/null
}

# bare NAME ACTION: $t/NAME.cpio, a busybox /init that only does ACTION (poweroff,
# or reboot for a kernel without ACPI): the bare boot a job is measured against.
bare() {
	mkdir -p "$t/$1/bin" "$t/$1/dev"
	cp /bin/busybox "$t/$1/bin/"
	printf '#!/bin/busybox sh\n/bin/busybox %s -f\n' "$2" >"$t/$1/init"
	chmod 755 "$t/$1/init"
	(cd "$t/$1" && find . | cpio -o -H newc 2>/dev/null) >"$t/$1.cpio"
}

# ms: now, in milliseconds.
ms() { echo $(($(date +%s%N) / 1000000)); }
