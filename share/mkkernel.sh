#!/bin/sh
# make kernel: omerta's own guest kernel, from Debian's kernel source package
# (linux-source-6.1: /usr/src/linux-source-*.tar.xz) and nothing else: "make
# tinyconfig", then share/kernel/guest.config over it (every option there says why),
# no modules. Into $OMERTA_CACHE_DIR/kernel (default /var/cache/omerta/kernel) as
# vmlinuz-VERSION-omerta-KEY and config-VERSION-omerta-KEY, KEY a hash of the source
# package's version, the fragment and the compiler: the same inputs are a lookup,
# and are built in the same folder with a fixed timestamp, user and host, so that a
# rebuild gives the same bytes. Prints the kernel's path; progress on stderr.
# From then on jobs boot it by themselves (the newest there by mtime: a lookup
# touches it; omerta-mkinitrd --which-kernel); omerta-mkinitrd leaves modules out
# of its base and omerta-vmboot gives it acpi=off, both from the config beside it.
# One build at a time (a lock in the folder); an interrupted one leaves nothing.
# usage: mkkernel.sh    (root, or any user who may write the cache)
set -eu
# Jobs boot only a kernel no group or other may write (om_kconfig.h): whatever the
# caller's umask, the folder and files are made so.
umask 022
die() { echo "kernel: $*" >&2; exit 1; }
say() { echo "kernel: $*" >&2; }
top=$(cd "$(dirname "$0")/.." && pwd)
frag=$top/share/kernel/guest.config
cache=${OMERTA_CACHE_DIR:-/var/cache/omerta}
tarball=$(printf '%s\n' /usr/src/linux-source-*.tar.xz | sort -V | tail -n 1)
[ -f "$tarball" ] || die "no /usr/src/linux-source-*.tar.xz (sudo apt-get install linux-source-6.1)"
for t in make gcc ld bc flex bison xz flock; do
	command -v "$t" >/dev/null || die "$t is missing (sudo apt-get install build-essential bc flex bison libelf-dev xz-utils)"
done
pkg=$(dpkg -S "$tarball" 2>/dev/null | cut -d: -f1) || pkg=''
srcver=''
[ -z "$pkg" ] || srcver=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null) || srcver=''
[ -n "$srcver" ] || srcver=$(stat -c '%s %Y' "$tarball")
# The inputs: the source package, the fragment, this recipe (its flags and
# LOCALVERSION), the compiler and the linker.
key=$(printf '%s\n%s\n%s\n%s\n%s\n' "$srcver" "$(sha256sum <"$frag")" "$(sha256sum <"$0")" \
	"$(gcc --version | head -n 1)" "$(ld --version | head -n 1)" | sha256sum | cut -c1-12)
out=$cache/kernel
mkdir -p "$out"
# A fixed folder (not mktemp): the build records no path that differs between two.
# So one build at a time; a second waits, then finds the first's kernel.
build=$out/build
exec 9>"$out/.lock"
flock 9
for f in "$out"/vmlinuz-*-omerta-"$key"; do
	if [ -f "$f" ] && [ -f "$out/config-${f#"$out"/vmlinuz-}" ]; then
		# The newest of them is the one omerta boots (om_kconfig.h): this one now.
		touch -c "$f" "$out/config-${f#"$out"/vmlinuz-}"
		say "built already ($pkg $srcver, key $key)"
		printf '%s\n' "$f"
		exit 0
	fi
done
rm -rf "$build"
mkdir -p "$build"
# Unfinished files are named so that no job takes them (om_kconfig.c own_name).
trap 'rm -rf "$build" "$out"/.tmp-*' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
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
cp "$build/.config" "$out/.tmp-config-$name"
cp "$build/arch/x86/boot/bzImage" "$out/.tmp-vmlinuz-$name"
# The config first: a kernel is chosen only with its config beside it.
mv "$out/.tmp-config-$name" "$out/config-$name"
mv "$out/.tmp-vmlinuz-$name" "$out/vmlinuz-$name"
say "built $out/vmlinuz-$name ($(stat -c %s "$out/vmlinuz-$name") bytes)"
printf '%s\n' "$out/vmlinuz-$name"
