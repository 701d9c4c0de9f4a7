#!/bin/sh
# make deps: install the Debian 12 packages omerta needs. Idempotent, and quiet when
# nothing is missing.
set -eu
pkgs="build-essential pkg-config libsodium-dev clang bats jq groff-base shellcheck
iproute2 iputils-ping nftables wireguard-tools wireguard-go qemu-system-x86 busybox-static musl-tools cpio
zstd kmod linux-image-cloud-amd64 procps psmisc iperf3 tcpdump openssh-server
openssh-client netcat-openbsd python3-minimal time gdb strace valgrind mmdebstrap squashfs-tools
e2fsprogs openssl python3 sudo dpkg-dev debhelper lintian"
# make kernel (share/mkkernel.sh): Debian's kernel source and what builds it.
[ "${1:-}" != kernel ] || pkgs="linux-source-6.1 bc flex bison libelf-dev xz-utils make gcc"
missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case $st in ii*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing (run: sudo make deps)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
