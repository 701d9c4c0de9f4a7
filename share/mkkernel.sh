#!/bin/sh
# make kernel: omerta's own guest kernel, from Debian's kernel source package
# (linux-source-6.1: /usr/src/linux-source-*.tar.xz) and nothing else: "make
# tinyconfig", then share/kernel/guest.config over it (every option there says why),
# no modules. Into $OMERTA_CACHE_DIR/kernel (default /var/cache/omerta/kernel) as
# vmlinuz-VERSION-omerta-KEY and config-VERSION-omerta-KEY, KEY a hash of the source
# package's version, the fragment and the compiler: the same inputs are a lookup,
# and are built in the same folder with a fixed timestamp, user and host, so that a
# rebuild gives the same bytes. Prints the kernel's path; progress on stderr.
# Use it with OMERTA_KERNEL=PATH (omerta-mkinitrd leaves modules out of its base,
# omerta-vmboot gives it acpi=off: both read the config beside it).
# usage: mkkernel.sh    (root, or any user who may write the cache)
set -eu
die() { echo "kernel: $*" >&2; exit 1; }
say() { echo "kernel: $*" >&2; }
top=$(cd "$(dirname "$0")/.." && pwd)
frag=$top/share/kernel/guest.config
cache=${OMERTA_CACHE_DIR:-/var/cache/omerta}
tarball=$(printf '%s\n' /usr/src/linux-source-*.tar.xz | sort -V | tail -n 1)
[ -f "$tarball" ] || die "no /usr/src/linux-source-*.tar.xz (sudo apt-get install linux-source-6.1)"
for t in make gcc bc flex bison xz; do
	command -v "$t" >/dev/null || die "$t is missing (sudo apt-get install build-essential bc flex bison libelf-dev xz-utils)"
done
pkg=$(dpkg -S "$tarball" 2>/dev/null | cut -d: -f1) || pkg=''
srcver=''
[ -z "$pkg" ] || srcver=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null) || srcver=''
[ -n "$srcver" ] || srcver=$(stat -c '%s %Y' "$tarball")
key=$(printf '%s\n%s\n%s\n' "$srcver" "$(sha256sum <"$frag")" "$(gcc --version | head -n 1)" | sha256sum | cut -c1-12)
out=$cache/kernel
mkdir -p "$out"
for f in "$out"/vmlinuz-*-omerta-"$key"; do
	if [ -f "$f" ]; then
		# The newest of them is the one omerta boots (om_kconfig.h): this one now.
		touch "$f" "$out/config-${f#"$out"/vmlinuz-}"
		say "built already ($pkg $srcver, key $key)"
		printf '%s\n' "$f"
		exit 0
	fi
done
# A fixed folder (not mktemp): the build records no path that differs between two.
build=$out/build
rm -rf "$build"
mkdir -p "$build"
trap 'rm -rf "$build"' EXIT
say "unpacking $tarball ($pkg $srcver)"
tar -xJf "$tarball" -C "$build" --strip-components=1
say "configuring: tinyconfig + share/kernel/guest.config"
make -s -C "$build" tinyconfig >/dev/null
"$build/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$frag" >"$out/merge.log" 2>&1
make -s -C "$build" olddefconfig >/dev/null
# Every option of the fragment must have taken: one that did not lacks a dependency.
grep -E '^CONFIG_[A-Z0-9_]+=' "$frag" | while IFS= read -r l; do
	grep -qx "$l" "$build/.config" || die "$l did not take (a dependency of it is off: $out/merge.log)"
done
grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$frag" | while IFS= read -r l; do
	o=${l#\# }
	o=${o%% *}
	! grep -q "^$o=" "$build/.config" || die "$o is set, against the fragment"
done
kver=$(make -s -C "$build" kernelversion)
jobs=$(nproc 2>/dev/null || echo 2)
say "compiling $kver with $jobs jobs"
# Progress: a line every 100 files compiled.
make -C "$build" -j"$jobs" LOCALVERSION="-omerta-$key" KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026' \
	KBUILD_BUILD_USER=omerta KBUILD_BUILD_HOST=omerta KBUILD_BUILD_VERSION=1 bzImage 2>&1 |
	awk '/^  CC / { n++; if (n % 100 == 0) { printf "kernel: %d files compiled\n", n > "/dev/stderr" } }
	     / error: |Error [0-9]/ { print > "/dev/stderr" }' || true
[ -f "$build/arch/x86/boot/bzImage" ] || die "the build failed"
name=$kver-omerta-$key
cp "$build/.config" "$out/config-$name.tmp"
cp "$build/arch/x86/boot/bzImage" "$out/vmlinuz-$name.tmp"
mv "$out/config-$name.tmp" "$out/config-$name"
mv "$out/vmlinuz-$name.tmp" "$out/vmlinuz-$name"
say "built $out/vmlinuz-$name ($(stat -c %s "$out/vmlinuz-$name") bytes)"
printf '%s\n' "$out/vmlinuz-$name"
