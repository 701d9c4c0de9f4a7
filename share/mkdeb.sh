#!/bin/sh
# make deb: omerta's Debian packages (debian/) into OUT (default build/deb):
# omerta_VERSION_ARCH.deb and omerta-provider_VERSION_amd64.deb, with their
# .buildinfo and .changes, and one line per .deb on stdout.
# The build runs in a copy (OUT/src/omerta-VERSION) of the files git has (tracked,
# and new ones it does not ignore, as they are in the work tree), so that the
# checkout's own build/ and bin/ are left alone and nothing of them is packaged.
# Two builds of the same files give the same bytes: dpkg-buildpackage takes
# SOURCE_DATE_EPOCH from debian/changelog, and the compilers get
# -ffile-prefix-map, so neither the date nor the folder is recorded.
# usage: mkdeb.sh [OUT]
set -eu
die() { echo "deb: $*" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/deb}
case $out in /*) ;; *) out=$top/$out ;; esac
command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage is missing (sudo make deps: dpkg-dev)"
command -v dh >/dev/null || die "dh is missing (sudo make deps: debhelper)"
cd "$top"
ver=$(dpkg-parsechangelog -S Version)
src=$out/src/omerta-$ver
# OUT is replaced whole, so only one that is missing, empty or an earlier build's.
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -e "$out/.omerta-deb" ]; then
	die "$out is not an earlier make deb's folder: give an empty or a new one"
fi
rm -rf "$out"
mkdir -p "$src"
: >"$out/.omerta-deb"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	# shellcheck disable=SC2016 # $f is the inner sh's
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
	(cd "$src" && make --no-print-directory clean >/dev/null)
fi
echo "deb: building omerta $ver in $src" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	die "dpkg-buildpackage failed (all of it in $out/build.log)"
}
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
for f in "$out"/src/*.ddeb; do [ ! -f "$f" ] || mv "$f" "$out"/; done
rm -rf "$out/src"
ls "$out"/*.deb
